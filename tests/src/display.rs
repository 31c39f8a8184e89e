//! A private X server (Xvfb) for tests that open real windows, stopped on drop.

use std::io::Read;
use std::process::{Child, Command, Stdio};

/// An Xvfb on a display number it picked itself.
pub struct VirtualDisplay {
    process: Child,
    /// `:N`, for `DISPLAY`.
    pub display: String,
}

impl VirtualDisplay {
    /// Starts Xvfb and waits until it accepts connections.
    pub fn start() -> Self {
        let mut process = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x900x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb is installed (make test installs it)");
        // Xvfb writes the display number once it accepts connections.
        let mut number = String::new();
        let mut stdout = process.stdout.take().expect("piped stdout");
        let mut byte = [0u8; 1];
        while stdout.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
            number.push(byte[0] as char);
        }
        assert!(!number.is_empty(), "Xvfb did not report a display");
        Self {
            process,
            display: format!(":{}", number.trim()),
        }
    }
}

impl Drop for VirtualDisplay {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
