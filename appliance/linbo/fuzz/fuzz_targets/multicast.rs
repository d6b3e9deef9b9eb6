//! multicast.list: never panic; whatever parses must survive render → parse.
#![no_main]

use bootbox_linbo::multicast::MulticastList;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(list) = MulticastList::parse(&text) {
        let once = list.render();
        let again = match MulticastList::parse(&once) {
            Ok(l) => l,
            Err(e) => panic!("rendered multicast.list does not parse: {e}\n{once}"),
        };
        assert_eq!(again, list, "round trip changed the list");
        assert_eq!(again.render(), once, "render is not stable");
    }
});
