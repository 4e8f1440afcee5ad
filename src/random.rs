//! The operating system's CSPRNG, the only source of randomness for secrets.

use rand::TryRng as _;
use rand::rngs::SysRng;

use crate::error::RandomError;

/// Fills `buf` from the operating system's random number generator.
pub(crate) fn fill(buf: &mut [u8]) -> Result<(), RandomError> {
    SysRng.try_fill_bytes(buf).map_err(RandomError)
}
