//! When the kernel received the datagram or frame just read from a socket.
//!
//! A thread that reads a socket on a busy machine may run well after the packet came. The
//! heartbeat counts the peer's deadtime from the packet's arrival, and the lab's watchers
//! time failovers by it, so both ask the kernel. `SIOCGSTAMPNS` gives the receive time of
//! the last packet read, once stamping is on: the first call on a socket turns it on.
//! Not `SO_TIMESTAMPNS`: with it the kernel passes the time in a control message only, and
//! the ioctl finds no stamp (`ENOENT`, seen on UDP sockets of Linux 6.x).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// `SIOCGSTAMPNS` (asm-generic/sockios.h, `SIOCGSTAMPNS_OLD`, a 64-bit `timespec` on
/// 64-bit targets); the libc crate does not have it.
const SIOCGSTAMPNS: libc::c_ulong = 0x8907;

/// The receive time of the last packet read, by the wall clock.
fn last_stamp(socket: BorrowedFd<'_>) -> io::Result<SystemTime> {
    let mut stamp = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: SIOCGSTAMPNS writes one timespec into the one we own; the fd is open for
    // the borrow's lifetime.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), SIOCGSTAMPNS, &mut stamp) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let secs = u64::try_from(stamp.tv_sec).map_err(|_| io::Error::other("negative stamp"))?;
    let nanos = u32::try_from(stamp.tv_nsec).map_err(|_| io::Error::other("bad stamp"))?;
    Ok(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// Turns receive stamps on for `socket` (no packet read yet is not an error).
pub fn enable(socket: BorrowedFd<'_>) -> io::Result<()> {
    match last_stamp(socket) {
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        Err(e) => Err(e),
    }
}

/// When the packet just read from `socket` arrived, on the monotonic clock, given the
/// monotonic `now`: `now` itself when the kernel has no stamp, or when the stamp is from
/// the future or older than `believable` (the wall clock was stepped).
pub fn received_at(socket: BorrowedFd<'_>, now: Instant, believable: Duration) -> Instant {
    let Ok(received) = last_stamp(socket) else {
        return now;
    };
    match SystemTime::now().duration_since(received) {
        Ok(age) if age < believable => now.checked_sub(age).unwrap_or(now),
        _ => now,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::fd::AsFd;

    /// Waits for the kernel to turn stamping on: the first socket that asks for it turns
    /// a system-wide switch, from a work queue, so packets in the next moments may come
    /// unstamped (the ioctl then gives the time of the call). A heartbeat socket is
    /// bound long before the first heartbeat; a test sends at once.
    pub(crate) fn settle() {
        std::thread::sleep(Duration::from_millis(200));
    }

    /// A datagram read 80 ms after it arrived is dated 80 ms back.
    #[test]
    fn a_datagram_is_dated_by_its_arrival() {
        let receiver = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        enable(receiver.as_fd()).expect("stamps on");
        settle();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        sender
            .send_to(b"beat", receiver.local_addr().expect("address"))
            .expect("send");
        std::thread::sleep(Duration::from_millis(80));
        let mut buffer = [0u8; 8];
        let (len, _) = receiver.recv_from(&mut buffer).expect("receive");
        assert_eq!(&buffer[..len], b"beat");
        let now = Instant::now();
        let age = now.duration_since(received_at(receiver.as_fd(), now, Duration::from_secs(1)));
        assert!(
            age >= Duration::from_millis(70) && age < Duration::from_secs(1),
            "dated {age:?} back"
        );
    }
}
