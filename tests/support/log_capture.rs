//! Captures everything a `tracing` subscriber writes, so that a test can search the log
//! for secrets. Include it with `#[path = "support/log_capture.rs"] mod log_capture;`.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// A shared buffer that a `tracing_subscriber::fmt()` writer appends to.
#[derive(Clone, Default)]
pub struct Capture(pub Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
