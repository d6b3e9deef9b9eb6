//! `multicast.list`: which udpcast port serves which image.
//!
//! One line per image: `<image file name> <server ipv4>:<port>`. The client
//! looks up its image by exact file name and runs `udp-receiver --portbase
//! <port>` (the server IP column is ignored by the client). udpcast uses
//! `port` and `port + 1`, which is why LINBO hands out every second port.
//! Blank lines and `#` comment lines are skipped (and not kept).

use std::fmt;
use std::net::Ipv4Addr;

use crate::{LineError, ParseErrors};

/// One image's multicast sender.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct MulticastEntry {
    /// Image file name, e.g. `win11.qcow2` (no `/`, no whitespace).
    pub image: String,
    /// Server address written into the file.
    pub server: Ipv4Addr,
    /// udpcast port base (1–65535).
    pub port: u16,
}

impl fmt::Display for MulticastEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}:{}", self.image, self.server, self.port)
    }
}

/// The whole `multicast.list`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct MulticastList {
    /// Entries in file order.
    pub entries: Vec<MulticastEntry>,
}

/// Checks an image file name as it may appear in `multicast.list`.
pub fn check_image_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the image name is empty".to_string());
    }
    if name.contains('/') {
        return Err(format!(
            "image name '{name}' must be a plain file name without '/'"
        ));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "image name '{name}' must not contain spaces or control characters"
        ));
    }
    if name.starts_with('#') {
        return Err(format!(
            "image name '{name}' must not start with '#' (the line would read as a comment)"
        ));
    }
    if name == "." || name == ".." {
        return Err(format!("'{name}' is not an image file name"));
    }
    Ok(())
}

fn parse_line(line: &str) -> Result<MulticastEntry, String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [image, addr] = fields.as_slice() else {
        return Err(format!(
            "expected '<image file> <server ip>:<port>', found {} field{}",
            fields.len(),
            if fields.len() == 1 { "" } else { "s" }
        ));
    };
    check_image_name(image)?;
    let Some((ip, port)) = addr.rsplit_once(':') else {
        return Err(format!("'{addr}' must be <server ip>:<port>"));
    };
    let server: Ipv4Addr = ip
        .parse()
        .map_err(|_| format!("'{ip}' is not an IPv4 address"))?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("port '{port}' is not a number"));
    }
    let port = match port.parse::<u16>() {
        Ok(0) | Err(_) => return Err(format!("port {port} is outside 1..65535")),
        Ok(p) => p,
    };
    Ok(MulticastEntry {
        image: (*image).to_string(),
        server,
        port,
    })
}

impl MulticastList {
    /// Parses the file, reporting every bad line. An image listed twice is
    /// an error (the client would only ever use one of the ports).
    pub fn parse(text: &str) -> Result<MulticastList, ParseErrors> {
        let mut errors = Vec::new();
        let mut list = MulticastList::default();
        let mut seen: std::collections::HashMap<String, usize> = Default::default();
        for (n, line) in crate::startconf::numbered_lines(text) {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            match parse_line(t) {
                Ok(e) => {
                    if let Some(first) = seen.get(&e.image) {
                        errors.push(LineError::new(
                            n,
                            format!("{} is listed twice (first on line {first})", e.image),
                        ));
                    } else {
                        seen.insert(e.image.clone(), n);
                        list.entries.push(e);
                    }
                }
                Err(msg) => errors.push(LineError::new(n, msg)),
            }
        }
        ParseErrors::check(errors, list)
    }

    /// Writes one `<image> <ip>:<port>` line per entry.
    pub fn render(&self) -> String {
        self.entries.iter().map(|e| format!("{e}\n")).collect()
    }

    /// The port for `image` (exact file-name match, as the client does).
    pub fn port_for(&self, image: &str) -> Option<u16> {
        self.entries
            .iter()
            .find(|e| e.image == image)
            .map(|e| e.port)
    }

    /// Builds a list the way `linbo-multicast` does: ports `portbase`,
    /// `portbase + 2`, ... in the given image order. Fails on a bad or
    /// duplicate image name, or when the ports (each using `port + 1` too)
    /// would run past 65535.
    pub fn assign<I, S>(server: Ipv4Addr, portbase: u16, images: I) -> Result<MulticastList, String>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        if portbase == 0 {
            return Err("the port base must be at least 1".to_string());
        }
        let mut list = MulticastList::default();
        let mut port = u32::from(portbase);
        for image in images {
            let image = image.into();
            check_image_name(&image)?;
            if list.port_for(&image).is_some() {
                return Err(format!("{image} is listed twice"));
            }
            let p = u16::try_from(port)
                .ok()
                .filter(|p| *p < u16::MAX)
                .ok_or_else(|| format!("no port left for {image}: ports would pass 65535"))?;
            list.entries.push(MulticastEntry {
                image,
                server,
                port: p,
            });
            port += 2;
        }
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = "\
# generated by linbo-multicast
win11.qcow2 10.0.0.1:9000
win11.qdiff 10.0.0.1:9002

ubuntu.qcow2 10.0.0.1:9004
";

    #[test]
    fn parses_and_renders() {
        let l = MulticastList::parse(LIST);
        assert!(l.is_ok(), "{l:?}");
        let l = l.unwrap_or_default();
        assert_eq!(l.entries.len(), 3);
        assert_eq!(l.port_for("win11.qdiff"), Some(9002));
        assert_eq!(l.port_for("win11"), None);
        assert_eq!(
            l.render(),
            "win11.qcow2 10.0.0.1:9000\nwin11.qdiff 10.0.0.1:9002\nubuntu.qcow2 10.0.0.1:9004\n"
        );
        assert_eq!(MulticastList::parse(&l.render()), Ok(l));
    }

    #[test]
    fn every_bad_line_is_reported() {
        let text = "\
win11.qcow2 10.0.0.1:9000
images/x.qcow2 10.0.0.1:9002
a.qcow2 10.0.0.1
b.qcow2 10.0.0.300:9004
c.qcow2 10.0.0.1:0
d.qcow2 10.0.0.1:65536
e.qcow2 10.0.0.1:90a
f.qcow2
g.qcow2 10.0.0.1:9006 extra
win11.qcow2 10.0.0.1:9008
";
        let errs = MulticastList::parse(text)
            .err()
            .map(|e| e.errors)
            .unwrap_or_default();
        let lines: Vec<usize> = errs.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6, 7, 8, 9, 10], "{errs:#?}");
        assert!(errs[0].message.contains("'/'"));
        assert!(errs[3].message.contains("1..65535"));
        assert!(errs[8].message.contains("twice"));
    }

    #[test]
    fn assign_like_linbo_multicast() {
        let l = MulticastList::assign(
            Ipv4Addr::new(10, 0, 0, 1),
            9000,
            ["a.qcow2", "a.qdiff", "b.qcow2"],
        );
        assert_eq!(
            l.map(|l| l.render()),
            Ok("a.qcow2 10.0.0.1:9000\na.qdiff 10.0.0.1:9002\nb.qcow2 10.0.0.1:9004\n".to_string())
        );
        assert!(MulticastList::assign(Ipv4Addr::LOCALHOST, 65532, ["a", "b", "c"]).is_err());
        assert!(MulticastList::assign(Ipv4Addr::LOCALHOST, 65532, ["a", "b"]).is_ok());
        assert!(MulticastList::assign(Ipv4Addr::LOCALHOST, 9000, ["a", "a"]).is_err());
        assert!(MulticastList::assign(Ipv4Addr::LOCALHOST, 9000, ["a b"]).is_err());
        assert!(MulticastList::assign(Ipv4Addr::LOCALHOST, 9000, ["#a"]).is_err());
        assert!(MulticastList::assign(Ipv4Addr::LOCALHOST, 0, ["a"]).is_err());
    }
}
