//! The page around each view: navigation, a small stylesheet, tables, and the live update.
//!
//! Every text that came from the ledger or the request goes through [`escape`] (the five
//! characters XML and HTML share; the same function writes payment files).
//!
//! Live update: each page carries the log size it shows (`data-size` on `<main>`). A small
//! inline script asks `/size` every [`POLL_SECONDS`] seconds and, when the log grew,
//! fetches the page again and swaps its `<main>`; it stops after [`POLLS_MAX`] polls (an
//! hour at 2 s; a reload starts it again) and pauses while the tab is hidden. Without
//! scripts a `<noscript>` refresh reloads the page every [`NOSCRIPT_REFRESH_SECONDS`]
//! seconds. Polling a number is simpler and sturdier than holding a stream open per tab,
//! and costs one status call per tab per poll.

use std::fmt::Write;

pub use crate::sepa::escape;

pub const POLL_SECONDS: u64 = 2;
pub const POLLS_MAX: u64 = 1_800;
pub const NOSCRIPT_REFRESH_SECONDS: u64 = 30;

/// The pages, in the order of the navigation.
pub const PAGES: [(&str, &str); 3] = [("/treasury", "Treasury"), ("/plans", "Plans"), ("/monitor", "Monitor")];

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#222}\
header{background:#1f3b5a;color:#fff;padding:8px 16px}header a{color:#fff;margin-right:16px}\
header a.here{font-weight:bold;text-decoration:underline}main{padding:8px 16px}\
table{border-collapse:collapse;margin:6px 0 16px;font-size:14px}td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left;white-space:nowrap}\
td.amount,th.amount{text-align:right;font-variant-numeric:tabular-nums}.late{color:#b00020;font-weight:bold}\
.note{color:#555;font-size:90%}form{margin:8px 0}input{margin-right:6px}";

fn live_script() -> String {
    format!(
        "<script>(function(){{var polls=0;var timer=setInterval(function(){{\
if(document.hidden)return;if(++polls>{POLLS_MAX}){{clearInterval(timer);return;}}\
var main=document.querySelector('main');fetch('/size').then(function(r){{return r.ok?r.text():null;}}).then(function(size){{\
if(size===null||Number(size)<=Number(main.dataset.size))return;\
return fetch(location.href).then(function(r){{return r.text();}}).then(function(html){{\
var fresh=new DOMParser().parseFromString(html,'text/html').querySelector('main');if(fresh){{main.replaceWith(fresh);}}}});\
}}).catch(function(){{}});}},{}000);}})();</script>",
        POLL_SECONDS
    )
}

/// A whole page: `path` marks the navigation, `who` says whose view it is, `size` is the
/// log size the figures reflect.
pub fn page(path: &str, title: &str, who: &str, size: u64, body: &str) -> String {
    let mut out = String::from("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">");
    let _ = write!(
        out,
        "<title>{} · fairshare</title><noscript><meta http-equiv=\"refresh\" content=\"{NOSCRIPT_REFRESH_SECONDS}\"></noscript><style>{STYLE}</style></head><body><header>",
        escape(title)
    );
    for (href, name) in PAGES {
        let class = if href == path { " class=\"here\"" } else { "" };
        let _ = write!(out, "<a href=\"{href}\"{class}>{name}</a>");
    }
    let _ = write!(
        out,
        "<span style=\"color:#ccd\">as {}</span></header><main data-size=\"{size}\"><h1>{}</h1>\
         <p class=\"note\">As of log size <span data-id=\"size\">{size}</span> (leaves); the page updates itself when the log grows.</p>{body}</main>{}</body></html>",
        escape(who),
        escape(title),
        live_script()
    );
    out
}

/// A table: a header starting with '>' is a right-aligned amount column; cells are escaped.
/// `id` names it in the DOM; a row's cells may carry `data-` ids through [`Cell`].
pub fn table(id: &str, headers: &[&str], rows: &[Vec<Cell>]) -> String {
    let mut out = format!("<table data-table=\"{}\"><thead><tr>", escape(id));
    for header in headers {
        match header.strip_prefix('>') {
            Some(name) => {
                let _ = write!(out, "<th class=\"amount\">{}</th>", escape(name));
            }
            None => {
                let _ = write!(out, "<th>{}</th>", escape(header));
            }
        }
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for (index, cell) in row.iter().enumerate() {
            let amount = headers.get(index).is_some_and(|header| header.starts_with('>'));
            let mut classes = Vec::new();
            if amount {
                classes.push("amount");
            }
            if cell.late {
                classes.push("late");
            }
            let class = if classes.is_empty() { String::new() } else { format!(" class=\"{}\"", classes.join(" ")) };
            let data = cell.id.as_ref().map(|id| format!(" data-id=\"{}\"", escape(id))).unwrap_or_default();
            let _ = write!(out, "<td{class}{data}>{}</td>", escape(&cell.text));
        }
        out.push_str("</tr>");
    }
    if rows.is_empty() {
        let _ = write!(out, "<tr><td colspan=\"{}\" class=\"note\">none</td></tr>", headers.len().max(1));
    }
    out.push_str("</tbody></table>");
    out
}

/// One table cell: its text, an optional `data-id` (what a test looks the figure up by),
/// and whether it is late (shown in red).
#[derive(Debug, Clone, Default)]
pub struct Cell {
    pub text: String,
    pub id: Option<String>,
    pub late: bool,
}

impl Cell {
    pub fn new(text: impl ToString) -> Cell {
        Cell { text: text.to_string(), ..Cell::default() }
    }

    pub fn with_id(text: impl ToString, id: impl Into<String>) -> Cell {
        Cell { text: text.to_string(), id: Some(id.into()), late: false }
    }

    pub fn late(mut self, late: bool) -> Cell {
        self.late = late;
        self
    }
}

/// A row of plain cells.
pub fn row<S: ToString>(cells: impl IntoIterator<Item = S>) -> Vec<Cell> {
    cells.into_iter().map(Cell::new).collect()
}

/// A heading and a short explanation.
pub fn section(title: &str, note: &str) -> String {
    if note.is_empty() {
        return format!("<h2>{}</h2>", escape(title));
    }
    format!("<h2>{}</h2><p class=\"note\">{}</p>", escape(title), escape(note))
}

/// The error page body: what went wrong, said plainly.
pub fn problem(message: &str) -> String {
    format!("<p class=\"late\">{}</p>", escape(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_escapes_what_it_shows_and_marks_its_size_and_place() {
        let html = page("/plans", "Plans <&>", "zk\"><script>", 42, "<p>body</p>");
        assert!(html.contains("<main data-size=\"42\">"), "{html}");
        assert!(html.contains("<a href=\"/plans\" class=\"here\">Plans</a>"));
        assert!(html.contains("Plans &lt;&amp;&gt;") && html.contains("zk&quot;&gt;&lt;script&gt;"), "{html}");
        assert!(html.contains("http-equiv=\"refresh\""), "a page refreshes without scripts too");
        assert_eq!(html.matches("<script>").count(), 1, "only the live-update script");
    }

    #[test]
    fn a_table_escapes_cells_aligns_amounts_and_says_none_when_empty() {
        let rows = vec![vec![Cell::with_id("<b>", "x/1"), Cell::new("12.50").late(true)]];
        let html = table("t", &["id", ">amount"], &rows);
        assert!(html.contains("<td data-id=\"x/1\">&lt;b&gt;</td><td class=\"amount late\">12.50</td>"), "{html}");
        assert!(table("t", &["id"], &[]).contains(">none</td>"));
    }
}
