//! `connector.native.kv.tally`: adds `by` (default 1) to a counter kept under
//! `tally/<key>` in the application's key-value store and returns the new
//! count. It declares `kv.read` and `kv.write`, so `TallyCaps` holds exactly
//! those two handles; an HTTP or log handle does not exist for it.

include!(concat!(env!("OUT_DIR"), "/connector.rs"));

use lf_runtime::host::native::Failure;

/// The longest key accepted, in bytes.
const MAX_KEY_LEN: usize = 128;

/// The node, registered by [`tally_register`].
#[derive(Debug, Default)]
pub struct Tally;

impl TallyNode for Tally {
    fn run(&self, input: TallyInput, caps: &TallyCaps) -> Result<TallyOutput, Failure> {
        if input.key.is_empty() || input.key.len() > MAX_KEY_LEN {
            return Err(Failure::new(
                tally_errors::BAD_KEY,
                format!("the key must have 1 to {MAX_KEY_LEN} bytes"),
            ));
        }
        let slot = format!("tally/{}", input.key);
        let store = |e: lf_runtime::host::HostError| {
            Failure::new(
                tally_errors::STORE_UNAVAILABLE,
                format!("the key-value store failed: {}", e.code),
            )
        };
        let current = match caps.kv_read.get(&slot).map_err(store)? {
            None => 0,
            Some(text) => text.parse::<i64>().map_err(|_| {
                Failure::new(
                    tally_errors::CORRUPT_COUNT,
                    format!("`{slot}` holds {text:?}, not a count"),
                )
            })?,
        };
        let count = current.saturating_add(input.by.unwrap_or(1));
        caps.kv_write
            .set(&slot, &count.to_string())
            .map_err(store)?;
        Ok(TallyOutput { count })
    }
}
