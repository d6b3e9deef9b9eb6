//! Forward error correction as stock udpcast computes it (`--fec
//! <stripes>x<redundancy>/<stripesize>`).
//!
//! A slice of `stripes × stripe_size` blocks is cut into stripes: stripe
//! `s` holds data blocks `s, s + stripes, s + 2·stripes, …` (positions
//! `c = 0..k`). For each stripe, `redundancy` parity blocks are sent; FEC
//! block index `j` belongs to stripe `j % stripes`, row `r = j / stripes`:
//!
//! ```text
//! parity(r) = Σ_c  inv((128 + c) XOR r) · D_c        over GF(2⁸), polynomial 0x11D
//! ```
//!
//! byte-wise, with the last (short) data block zero-padded to the block
//! size. This is a systematic Cauchy erasure code; receivers decode it.
//! The coefficients were checked bit-exactly against FEC blocks captured
//! from Debian's `udp-sender` (`tests/fixtures/fec-*.hex`).

use std::fmt;
use std::str::FromStr;

use crate::wire::MAX_SLICE_BLOCKS;

/// Primitive polynomial x⁸+x⁴+x³+x²+1.
const POLY: u16 = 0x11D;

const fn tables() -> ([u8; 512], [u8; 256]) {
    let mut exp = [0u8; 512];
    let mut log = [0u8; 256];
    let mut x: u16 = 1;
    let mut i = 0;
    while i < 255 {
        exp[i] = x as u8;
        log[x as usize] = i as u8;
        x <<= 1;
        if x & 0x100 != 0 {
            x ^= POLY;
        }
        i += 1;
    }
    while i < 512 {
        exp[i] = exp[i - 255];
        i += 1;
    }
    (exp, log)
}

const TABLES: ([u8; 512], [u8; 256]) = tables();
const EXP: [u8; 512] = TABLES.0;
const LOG: [u8; 256] = TABLES.1;

/// Multiplication in GF(2⁸)/0x11D.
pub fn gf_mul(a: u8, b: u8) -> u8 {
    if a == 0 || b == 0 {
        return 0;
    }
    EXP[LOG[a as usize] as usize + LOG[b as usize] as usize]
}

/// Multiplicative inverse in GF(2⁸)/0x11D (`inv(0)` is defined as 0).
pub fn gf_inv(a: u8) -> u8 {
    if a == 0 {
        return 0;
    }
    EXP[255 - LOG[a as usize] as usize]
}

/// The coefficient of data position `c` in parity row `r`.
pub fn coefficient(row: usize, position: usize) -> u8 {
    gf_inv(((128 + position) ^ row) as u8)
}

/// FEC layout: `stripes` × `redundancy` parity blocks per slice of
/// `stripes × stripe_size` data blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FecConfig {
    /// Interleaved stripes per slice (≥ 1).
    pub stripes: u16,
    /// Parity blocks per stripe (1..=128).
    pub redundancy: u16,
    /// Data blocks per stripe (1..=128).
    pub stripe_size: u16,
}

impl Default for FecConfig {
    /// udpcast's `--fec 8x8/128`.
    fn default() -> Self {
        FecConfig {
            stripes: 8,
            redundancy: 8,
            stripe_size: 128,
        }
    }
}

impl FecConfig {
    /// Checks the limits stock receivers accept.
    pub fn validate(&self) -> Result<(), String> {
        if self.stripes == 0 {
            return Err("FEC needs at least one stripe".into());
        }
        if !(1..=128).contains(&self.redundancy) {
            return Err(format!(
                "FEC redundancy {} is outside 1..128",
                self.redundancy
            ));
        }
        if !(1..=128).contains(&self.stripe_size) {
            return Err(format!(
                "FEC stripe size {} is outside 1..128",
                self.stripe_size
            ));
        }
        if self.slice_blocks() > MAX_SLICE_BLOCKS {
            return Err(format!(
                "FEC slice of {} × {} blocks exceeds {MAX_SLICE_BLOCKS}",
                self.stripes, self.stripe_size
            ));
        }
        Ok(())
    }

    /// Data blocks per slice.
    pub fn slice_blocks(&self) -> usize {
        usize::from(self.stripes) * usize::from(self.stripe_size)
    }

    /// FEC blocks per full slice.
    pub fn fec_blocks(&self) -> usize {
        usize::from(self.stripes) * usize::from(self.redundancy)
    }
}

impl fmt::Display for FecConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}x{}/{}",
            self.stripes, self.redundancy, self.stripe_size
        )
    }
}

impl FromStr for FecConfig {
    type Err = String;

    /// Parses udpcast's syntax `<stripes>x<redundancy>[/<stripesize>]`
    /// (stripe size defaults to 128).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("'{s}' is not <stripes>x<redundancy>[/<stripesize>]");
        let (sr, size) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let (st, red) = sr.split_once('x').ok_or_else(bad)?;
        let num = |t: &str| t.trim().parse::<u16>().map_err(|_| bad());
        let cfg = FecConfig {
            stripes: num(st)?,
            redundancy: num(red)?,
            stripe_size: match size {
                Some(z) => num(z)?,
                None => 128,
            },
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

/// Computes the FEC blocks of one slice (`data` = the slice's bytes, at
/// most `stripes × stripe_size` blocks). Returns `stripes × redundancy`
/// blocks of `block_size` bytes in index order (`j = row · stripes +
/// stripe`); blocks of stripes without any data block are left zero (they
/// are never sent).
pub fn encode(cfg: &FecConfig, block_size: usize, data: &[u8]) -> Vec<u8> {
    let stripes = usize::from(cfg.stripes.max(1));
    let redundancy = usize::from(cfg.redundancy);
    let mut out = vec![0u8; stripes * redundancy * block_size];
    if block_size == 0 {
        return out;
    }
    let nblocks = data.len().div_ceil(block_size);
    let mut table = [0u8; 256];
    for stripe in 0..stripes.min(nblocks) {
        for row in 0..redundancy {
            let j = row * stripes + stripe;
            let Some(parity) = out.get_mut(j * block_size..(j + 1) * block_size) else {
                continue;
            };
            for (position, block) in (stripe..nblocks).step_by(stripes).enumerate() {
                let coef = coefficient(row, position);
                for (x, t) in table.iter_mut().enumerate() {
                    *t = gf_mul(coef, x as u8);
                }
                let start = block * block_size;
                let end = (start + block_size).min(data.len());
                let Some(src) = data.get(start..end) else {
                    continue;
                };
                // Bytes past the end of a short block are zero: 0·coef = 0.
                for (p, d) in parity.iter_mut().zip(src) {
                    *p ^= table[usize::from(*d)];
                }
            }
        }
    }
    out
}

/// True if FEC block `index` of a slice with `blocks` data blocks belongs
/// to a stripe that holds at least one data block (others are not sent).
pub fn fec_block_used(cfg: &FecConfig, blocks: usize, index: usize) -> bool {
    index % usize::from(cfg.stripes.max(1)) < blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_arithmetic() {
        for a in 1..=255u8 {
            assert_eq!(gf_mul(a, gf_inv(a)), 1, "a = {a}");
        }
        assert_eq!(gf_mul(0x80, 2), 0x1D);
        assert_eq!(gf_mul(0, 7), 0);
    }

    #[test]
    fn parse_like_udpcast() {
        assert_eq!("8x8".parse::<FecConfig>(), Ok(FecConfig::default()));
        assert_eq!(
            "3x4/20".parse::<FecConfig>(),
            Ok(FecConfig {
                stripes: 3,
                redundancy: 4,
                stripe_size: 20
            })
        );
        assert!("8x8/129".parse::<FecConfig>().is_err());
        assert!("16x8/128".parse::<FecConfig>().is_err());
        assert!("0x8".parse::<FecConfig>().is_err());
        assert!("8".parse::<FecConfig>().is_err());
        assert_eq!(FecConfig::default().to_string(), "8x8/128");
    }

    #[test]
    fn single_block_stripe_parity_is_scaled_data() {
        let cfg = FecConfig {
            stripes: 1,
            redundancy: 2,
            stripe_size: 4,
        };
        let data = [1u8, 2, 3, 4];
        let fec = encode(&cfg, 4, &data);
        let c0 = coefficient(0, 0);
        let c1 = coefficient(1, 0);
        assert_eq!(&fec[..4], &data.map(|d| gf_mul(c0, d)));
        assert_eq!(&fec[4..], &data.map(|d| gf_mul(c1, d)));
    }
}
