//! PXE vendor options (option 43 with option 60 = `PXEClient`).
//!
//! Option 43 is a TLV list of sub-options terminated by 255 (PXE 2.1
//! section 2.4). We only ever send two things:
//!
//! * `{6: 8}` (PXE_DISCOVERY_CONTROL = "skip discovery, boot the `file`
//!   of this offer") to BIOS PXE ROMs, several of which ignore proxy offers
//!   without any option 43;
//! * the echo of sub-option 71 (PXE_BOOT_ITEM) in a port-4011 ACK when the
//!   request carried one.
//!
//! UEFI clients never get option 43 from us on port 67: EDK2 treats proxy
//! offers with discovery sub-options as "ProxyPxe10" and drops the first
//! (and hence every) one of them.

/// Sub-option 6, PXE_DISCOVERY_CONTROL.
pub const PXE_DISCOVERY_CONTROL: u8 = 6;
/// Sub-option 71, PXE_BOOT_ITEM.
pub const PXE_BOOT_ITEM: u8 = 71;
/// Discovery control bit 3: skip discovery and boot the offered `file`.
pub const DISCOVERY_USE_BOOTFILE: u8 = 8;
/// Layer bit 15 of a boot item: the client asks for BIS credentials.
const LAYER_BIS: u16 = 0x8000;

/// A PXE boot item (sub-option 71): server type and layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BootItem {
    /// Boot server type (0 = local boot).
    pub item_type: u16,
    /// Layer; bit 15 requests BIS credentials.
    pub layer: u16,
}

impl BootItem {
    /// True when the client asks for Boot Integrity Services credentials
    /// (we refuse those, like dnsmasq).
    pub fn wants_bis(&self) -> bool {
        self.layer & LAYER_BIS != 0
    }
}

/// Splits an option 43 payload into sub-options. Tolerant: stops at 255,
/// skips pads, and returns what it could read before a truncated entry.
pub fn decode_suboptions(data: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = data.get(i) {
        match c {
            0 => i += 1,
            255 => break,
            _ => {
                let Some(&len) = data.get(i + 1) else { break };
                let start = i + 2;
                let end = start + usize::from(len);
                let Some(v) = data.get(start..end) else { break };
                out.push((c, v.to_vec()));
                i = end;
            }
        }
    }
    out
}

/// Encodes sub-options as an option 43 payload, with the 255 terminator.
/// Values longer than 255 bytes are cut (none of ours come close).
pub fn encode_suboptions(subs: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (c, v) in subs {
        let n = v.len().min(255);
        out.push(*c);
        out.push(u8::try_from(n).unwrap_or(u8::MAX));
        out.extend_from_slice(&v[..n]);
    }
    out.push(255);
    out
}

/// The option 43 we give BIOS PXE ROMs: `{6: 8}`, i.e. `06 01 08 ff`.
pub fn bios_vendor_options() -> Vec<u8> {
    encode_suboptions(&[(PXE_DISCOVERY_CONTROL, &[DISCOVERY_USE_BOOTFILE])])
}

/// Reads sub-option 71 from a request's option 43.
pub fn boot_item(opt43: &[u8]) -> Option<BootItem> {
    decode_suboptions(opt43)
        .into_iter()
        .find(|(c, _)| *c == PXE_BOOT_ITEM)
        .and_then(|(_, v)| {
            let b: [u8; 4] = v.get(..4)?.try_into().ok()?;
            Some(BootItem {
                item_type: u16::from_be_bytes([b[0], b[1]]),
                layer: u16::from_be_bytes([b[2], b[3]]),
            })
        })
}

/// The option 43 echoing a boot item in a port-4011 ACK.
pub fn boot_item_echo(item: BootItem) -> Vec<u8> {
    let t = item.item_type.to_be_bytes();
    let l = item.layer.to_be_bytes();
    encode_suboptions(&[(PXE_BOOT_ITEM, &[t[0], t[1], l[0], l[1]])])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bios_options_bytes() {
        assert_eq!(bios_vendor_options(), vec![6, 1, 8, 255]);
    }

    #[test]
    fn boot_item_roundtrip() {
        let item = BootItem {
            item_type: 0x8000,
            layer: 0,
        };
        let enc = boot_item_echo(item);
        assert_eq!(enc, vec![71, 4, 0x80, 0, 0, 0, 255]);
        assert_eq!(boot_item(&enc), Some(item));
        assert!(!item.wants_bis());
        assert!(BootItem {
            item_type: 1,
            layer: 0x8001
        }
        .wants_bis());
    }

    #[test]
    fn decode_tolerates_garbage() {
        assert_eq!(decode_suboptions(&[6, 5, 1]), vec![]);
        assert_eq!(decode_suboptions(&[0, 6, 1, 8, 71]), vec![(6, vec![8])]);
        assert_eq!(boot_item(&[71, 2, 0, 0, 255]), None);
    }
}
