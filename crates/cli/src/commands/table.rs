//! The CLI's tables: plain columns without borders, so they read well and paste cleanly.

use comfy_table::{ContentArrangement, Table, presets};

/// An empty table with `header`; print it with `trim_fmt()`, which drops the blanks that
/// pad the last column.
pub fn new<const N: usize>(header: [&str; N]) -> Table {
    let mut table = Table::new();
    table.load_style(presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled).set_header(header);
    // Two spaces between columns and none at the left margin.
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    table
}
