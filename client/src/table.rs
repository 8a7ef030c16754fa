//! Aligned text tables for people (`--json` is for programs).

/// A table whose columns are as wide as their widest cell. A header that starts with '>'
/// names a right-aligned column (amounts), so decimal points line up.
#[derive(Debug, Clone, Default)]
pub struct Table {
    headers: Vec<String>,
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|header| header.trim_start_matches('>').to_string()).collect(),
            right: headers.iter().map(|header| header.starts_with('>')).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        assert_eq!(cells.len(), self.headers.len(), "a row has one cell per column");
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|header| header.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::new();
            for (index, cell) in row.iter().enumerate() {
                if index > 0 {
                    line.push_str("  ");
                }
                let pad = " ".repeat(widths[index] - cell.chars().count());
                if self.right[index] {
                    line.push_str(&pad);
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    line.push_str(&pad);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_amounts_align_right() {
        let mut table = Table::new(&["id", ">amount"]);
        table.row(vec!["a".into(), "1.00".into()]);
        table.row(vec!["longer".into(), "1250.00".into()]);
        assert_eq!(table.render(), "id       amount\na          1.00\nlonger  1250.00\n");
    }
}
