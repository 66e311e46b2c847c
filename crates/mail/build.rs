//! Embeds every built-in email template: `templates/{locale}/{kind}.{subject,txt,html}`. A new
//! translation (or a new kind's templates) is only files; the renderer finds them by name.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    println!("cargo::rerun-if-changed={}", root.display());
    let mut entries = Vec::new();
    for locale in std::fs::read_dir(&root).expect("templates directory") {
        let locale = locale.expect("templates entry").path();
        if !locale.is_dir() {
            continue;
        }
        println!("cargo::rerun-if-changed={}", locale.display());
        for file in std::fs::read_dir(&locale).expect("locale directory") {
            let file = file.expect("template entry").path();
            let name = format!(
                "{}/{}",
                locale.file_name().and_then(|n| n.to_str()).expect("utf-8 locale"),
                file.file_name().and_then(|n| n.to_str()).expect("utf-8 file name")
            );
            entries.push((name, file));
        }
    }
    entries.sort();
    let mut out = String::from("/// Every built-in template: its name (`locale/kind.part`) and source.\n");
    out.push_str("pub(crate) static BUILTIN: &[(&str, &str)] = &[\n");
    for (name, path) in entries {
        writeln!(out, "    ({name:?}, include_str!({:?})),", path.display().to_string()).expect("write");
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("builtin_templates.rs");
    std::fs::write(dest, out).expect("write builtin_templates.rs");
}
