//! Fuzzes the whole compose loader on one file read from standard input: YAML,
//! interpolation, schema, canonical forms, merge, consistency. Any panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let opts = hb_compose::Options {
        working_dir: "/nonexistent-hb-fuzz".into(),
        files: vec!["-".into()],
        stdin: Some(text.to_string()),
        project_name: Some("fuzz".into()),
        environment: [("HOME".to_string(), "/root".to_string()), ("X".to_string(), "1".to_string())].into_iter().collect(),
        ..Default::default()
    };
    let _ = hb_compose::load(&opts);
});
