//! A minimal Redis client over a Unix socket: `SET` and `GET` of binary
//! values in the RESP2 protocol, one request in flight at a time.
//!
//! It supports only the replies those two commands give (`+OK`, a bulk
//! string, a nil bulk string and an error); anything else is an error.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// One connection to a Redis server.
pub(crate) struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    request: Vec<u8>,
    line: Vec<u8>,
}

fn protocol_error(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

impl Client {
    /// Connects to the server at `socket`, retrying for up to `patience`
    /// while it starts.
    pub(crate) fn connect(socket: &Path, patience: Duration) -> io::Result<Client> {
        let start = Instant::now();
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(stream) => break stream,
                Err(error) if start.elapsed() > patience => return Err(error),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        Ok(Client {
            reader: BufReader::with_capacity(1 << 16, stream.try_clone()?),
            writer: stream,
            request: Vec::new(),
            line: Vec::new(),
        })
    }

    fn send(&mut self, args: &[&[u8]]) -> io::Result<()> {
        self.request.clear();
        write!(self.request, "*{}\r\n", args.len())?;
        for arg in args {
            write!(self.request, "${}\r\n", arg.len())?;
            self.request.extend_from_slice(arg);
            self.request.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&self.request)
    }

    /// Reads one reply line, without its `\r\n`.
    fn read_line(&mut self) -> io::Result<&[u8]> {
        self.line.clear();
        self.reader.read_until(b'\n', &mut self.line)?;
        if !self.line.ends_with(b"\r\n") {
            return Err(protocol_error("the connection closed mid-reply".into()));
        }
        let len = self.line.len() - 2;
        Ok(&self.line[..len])
    }

    /// Stores `value` under `key`.
    pub(crate) fn set(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        self.send(&[b"SET", key, value])?;
        let line = self.read_line()?;
        if line != b"+OK" {
            let reply = String::from_utf8_lossy(line).into_owned();
            return Err(protocol_error(format!("SET replied {reply}")));
        }
        Ok(())
    }

    /// Reads the value of `key` into `buf`, which it resizes, and returns
    /// whether the key exists.
    pub(crate) fn get(&mut self, key: &[u8], buf: &mut Vec<u8>) -> io::Result<bool> {
        self.send(&[b"GET", key])?;
        let line = self.read_line()?;
        let len = match line.strip_prefix(b"$") {
            Some(b"-1") => return Ok(false),
            Some(digits) => std::str::from_utf8(digits)
                .ok()
                .and_then(|digits| digits.parse::<usize>().ok()),
            None => None,
        };
        let Some(len) = len else {
            let reply = String::from_utf8_lossy(line).into_owned();
            return Err(protocol_error(format!("GET replied {reply}")));
        };
        buf.resize(len + 2, 0);
        self.reader.read_exact(buf)?;
        buf.truncate(len);
        Ok(true)
    }
}
