//! README.md's table of supported APIs is the code's table, row for row.

use kafka_broker::apis::specs;

#[test]
fn readme_api_table_matches_the_supported_table() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let rows: Vec<String> = readme
        .lines()
        .skip_while(|line| !line.starts_with("| API | key | versions | flexible from |"))
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(str::to_string)
        .collect();
    let expected: Vec<String> = specs()
        .into_iter()
        .map(|api| {
            let versions = if api.min == api.max {
                api.min.to_string()
            } else {
                format!("{}-{}", api.min, api.max)
            };
            let flexible = if api.flexible_from == i16::MAX {
                "none".to_string()
            } else {
                api.flexible_from.to_string()
            };
            format!("| {} | {} | {} | {flexible} |", api.name, api.key, versions)
        })
        .collect();
    assert_eq!(rows, expected);
}
