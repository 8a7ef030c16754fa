//! Charts as SVG text, drawn on the server: grouped horizontal bars and a step line.
//!
//! Why not a JavaScript chart library: a page must show its figures without scripts (and
//! a headless browser test reads them from the DOM), there is no vendored JS to keep up to
//! date, and two chart shapes are a few hundred lines of Rust that unit tests can check.
//! Amounts stay exact: bar lengths are integer pixels computed from cents (`i128`, no
//! floats), and every mark carries its amount as text (`<title>`, `data-amount`).

use std::fmt::Write;

use fairshare_protocol::Amount;

use crate::sepa::escape;

/// Width of every chart, in SVG user units (the page scales it).
pub const WIDTH: i64 = 760;
const LABEL_WIDTH: i64 = 190;
/// Room right of the longest bar for its amount.
const VALUE_WIDTH: i64 = 110;
const BAR_HEIGHT: i64 = 11;
const GROUP_GAP: i64 = 10;
/// The line of a group's label and note, above its bars.
const NOTE_HEIGHT: i64 = 16;
const LEGEND_HEIGHT: i64 = 22;
/// Bounds the work and the size of one chart: more groups than this are left out, and the
/// chart says how many.
pub const GROUPS_MAX: usize = 200;

/// One series of a bar chart: its name (the legend) and its colour.
#[derive(Debug, Clone, Copy)]
pub struct Series {
    pub name: &'static str,
    pub colour: &'static str,
}

/// One group of bars: a label (a sector, a quarter), a note under it, one amount per series.
#[derive(Debug, Clone)]
pub struct Group {
    pub label: String,
    pub note: String,
    pub amounts: Vec<Amount>,
}

/// Pixels for `amount` when `max` fills `span` (negative amounts draw nothing).
fn scale(amount: Amount, max: i64, span: i64) -> i64 {
    if max <= 0 || amount.cents() <= 0 {
        return 0;
    }
    let pixels = i128::from(amount.cents()) * i128::from(span) / i128::from(max);
    // At least a pixel, so a small amount is seen to be there.
    (pixels as i64).clamp(1, span)
}

fn legend(out: &mut String, series: &[Series]) {
    let mut x = LABEL_WIDTH;
    for item in series {
        let _ = write!(
            out,
            r#"<rect x="{x}" y="4" width="12" height="12" fill="{}"/><text x="{}" y="14" font-size="12">{}</text>"#,
            item.colour,
            x + 16,
            escape(item.name)
        );
        x += 22 + 8 * item.name.len() as i64;
    }
}

/// Grouped horizontal bars, all on one scale (the largest amount fills the width).
/// `id` names the chart in the DOM (`data-chart`).
pub fn bars(id: &str, title: &str, series: &[Series], groups: &[Group]) -> String {
    let shown = &groups[..groups.len().min(GROUPS_MAX)];
    let max = shown.iter().flat_map(|group| group.amounts.iter()).map(|amount| amount.cents()).max().unwrap_or(0);
    let span = WIDTH - LABEL_WIDTH - VALUE_WIDTH;
    // Per group: its label and note on one line, then one bar per series.
    let group_height = NOTE_HEIGHT + series.len() as i64 * BAR_HEIGHT + GROUP_GAP;
    let height = LEGEND_HEIGHT + group_height * shown.len().max(1) as i64 + 8;
    let mut out = format!(
        r#"<svg class="chart" data-chart="{}" role="img" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{}</title>"#,
        escape(id),
        escape(title)
    );
    legend(&mut out, series);
    if shown.is_empty() {
        let _ = write!(out, r#"<text x="{LABEL_WIDTH}" y="{}" font-size="12">nothing to show</text>"#, LEGEND_HEIGHT + 14);
    }
    for (index, group) in shown.iter().enumerate() {
        let top = LEGEND_HEIGHT + index as i64 * group_height;
        let _ = write!(
            out,
            r##"<g data-group="{label}"><text x="0" y="{0}" font-size="12" font-weight="bold">{label}</text><text x="{LABEL_WIDTH}" y="{0}" font-size="10" fill="#555">{note}</text>"##,
            top + 12,
            label = escape(&group.label),
            note = escape(&group.note),
        );
        for (row, (item, amount)) in series.iter().zip(&group.amounts).enumerate() {
            let y = top + NOTE_HEIGHT + row as i64 * BAR_HEIGHT;
            let width = scale(*amount, max, span);
            let _ = write!(
                out,
                r#"<rect data-series="{name}" data-amount="{amount}" x="{LABEL_WIDTH}" y="{y}" width="{width}" height="{}" fill="{}"><title>{label}: {name} {amount}</title></rect><text x="{}" y="{}" font-size="10">{amount}</text>"#,
                BAR_HEIGHT - 2,
                item.colour,
                LABEL_WIDTH + width + 4,
                y + BAR_HEIGHT - 3,
                name = escape(item.name),
                label = escape(&group.label),
            );
        }
        out.push_str("</g>");
    }
    if groups.len() > shown.len() {
        let _ = write!(out, r#"<text x="0" y="{}" font-size="12">{} more not shown</text>"#, height - 2, groups.len() - shown.len());
    }
    out.push_str("</svg>");
    out
}

/// A step line of amounts over labelled points (the fund after each adjustment): the value
/// holds until the next point. At least one point.
pub fn steps(id: &str, title: &str, points: &[(String, Amount)]) -> String {
    const HEIGHT: i64 = 220;
    const TOP: i64 = 20;
    const BOTTOM: i64 = 50;
    let shown = &points[..points.len().min(GROUPS_MAX)];
    let max = shown.iter().map(|(_, amount)| amount.cents()).max().unwrap_or(0);
    let span_y = HEIGHT - TOP - BOTTOM;
    let span_x = WIDTH - LABEL_WIDTH - VALUE_WIDTH;
    let x_of = |index: usize| LABEL_WIDTH + if shown.len() > 1 { index as i64 * span_x / (shown.len() as i64 - 1) } else { 0 };
    let y_of = |amount: Amount| TOP + span_y - scale(amount, max, span_y);
    let mut out = format!(
        r#"<svg class="chart" data-chart="{}" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg"><title>{}</title>"#,
        escape(id),
        escape(title)
    );
    let _ = write!(
        out,
        r##"<line x1="{LABEL_WIDTH}" y1="{0}" x2="{1}" y2="{0}" stroke="#999"/><text x="0" y="{2}" font-size="11">0.00</text><text x="0" y="{3}" font-size="11">{4}</text>"##,
        TOP + span_y,
        WIDTH - VALUE_WIDTH,
        TOP + span_y,
        TOP + 4,
        Amount::from_cents(max)
    );
    let mut path = String::new();
    for (index, (_, amount)) in shown.iter().enumerate() {
        let (x, y) = (x_of(index), y_of(*amount));
        if index == 0 {
            let _ = write!(path, "M{x},{y}");
        } else {
            let _ = write!(path, " H{x} V{y}");
        }
    }
    let _ = write!(out, r##"<path d="{path}" fill="none" stroke="#1f5fa8" stroke-width="2"/>"##);
    for (index, (label, amount)) in shown.iter().enumerate() {
        let (x, y) = (x_of(index), y_of(*amount));
        let _ = write!(
            out,
            r##"<circle data-amount="{amount}" cx="{x}" cy="{y}" r="4" fill="#1f5fa8"><title>{label}: {amount}</title></circle><text x="{x}" y="{}" font-size="10" text-anchor="middle">{label}</text>"##,
            HEIGHT - BOTTOM + 16 + (index as i64 % 2) * 14,
            label = escape(label),
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn euros(text: &str) -> Amount {
        text.parse().unwrap()
    }

    #[test]
    fn the_largest_amount_fills_the_width_and_a_small_one_is_still_seen() {
        let span = 100;
        assert_eq!(scale(euros("50.00"), 5_000, span), 100);
        assert_eq!(scale(euros("25.00"), 5_000, span), 50);
        assert_eq!(scale(euros("0.01"), 5_000_000_000, span), 1, "a cent of billions is one pixel, not none");
        assert_eq!(scale(euros("0.00"), 5_000, span), 0);
        assert_eq!(scale(euros("-3.00"), 5_000, span), 0);
        assert_eq!(scale(euros("3.00"), 0, span), 0, "nothing to scale by");
    }

    #[test]
    fn every_text_in_a_chart_is_escaped_and_every_bar_carries_its_amount() {
        let series = [Series { name: "paid", colour: "#080" }];
        let group = Group { label: "<script>alert('x')</script>".into(), note: "a & b".into(), amounts: vec![euros("1250.50")] };
        let svg = bars("sectors", "\"quoted\"", &series, &[group]);
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt;"), "{svg}");
        assert!(svg.contains("a &amp; b") && svg.contains("&quot;quoted&quot;"), "{svg}");
        assert!(svg.contains(r#"data-series="paid" data-amount="1250.50""#), "{svg}");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }

    #[test]
    fn an_empty_chart_says_so_and_a_long_one_says_what_it_left_out() {
        let series = [Series { name: "paid", colour: "#080" }];
        assert!(bars("empty", "t", &series, &[]).contains("nothing to show"));
        let many: Vec<Group> = (0..GROUPS_MAX + 3)
            .map(|index| Group { label: index.to_string(), note: String::new(), amounts: vec![euros("1.00")] })
            .collect();
        let svg = bars("many", "t", &series, &many);
        assert!(svg.contains("3 more not shown"));
        assert_eq!(svg.matches("<g data-group").count(), GROUPS_MAX);
    }

    #[test]
    fn a_step_line_holds_each_value_until_the_next_point() {
        let points = vec![("genesis".to_string(), euros("100.00")), ("leaf 7".to_string(), euros("50.00"))];
        let svg = steps("fund", "the fund", &points);
        // The first point sits at the top (the largest), the path then runs across and down.
        assert!(svg.contains(r#"<path d="M190,20 H650 V95""#), "{svg}");
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains(r#"data-amount="50.00""#));
    }
}
