//! onboot .cmd: never panic; whatever parses must survive render → parse,
//! and every single command must survive Display → Command::parse.
#![no_main]

use bootbox_linbo::onboot::{Command, OnbootCmd};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = Command::parse(&text);
    if let Ok(cmd) = OnbootCmd::parse(&text) {
        let once = cmd.render();
        let again = match OnbootCmd::parse(&once) {
            Ok(c) => c,
            Err(e) => panic!("rendered onboot file does not parse: {e}\n{once}"),
        };
        assert_eq!(again, cmd, "round trip changed the commands");
        assert_eq!(again.render(), once, "render is not stable");
        for c in &cmd.commands {
            assert_eq!(Command::parse(&c.to_string()).as_ref(), Ok(c));
        }
    }
});
