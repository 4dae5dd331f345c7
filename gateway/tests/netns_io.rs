//! Root-only: the I/O layer against the real kernel, inside a private network
//! namespace that this test's thread unshares (it vanishes with the thread, so
//! nothing leaks onto the host). Fails, not skips, when CI=true and not root.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a panic is the failure report

use gateway::io::netlink::{ifindex, InstalledRoutes};
use gateway::io::tun::{Tun, TunSettings, HEADROOM, IDEAL_BATCH_SIZE, SUPERPACKET};
use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

fn have_root_or_skip() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "this test needs root (CAP_NET_ADMIN) and CI=true: failing rather than skipping"
    );
    eprintln!("skipped: needs root");
    false
}

/// Runs `f` on a thread that lives in a fresh network namespace.
fn in_private_netns<F: FnOnce() + Send + 'static>(f: F) {
    std::thread::spawn(move || {
        // SAFETY: unshare only affects this thread's namespace membership.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(
            rc,
            0,
            "unshare(CLONE_NEWNET): {}",
            std::io::Error::last_os_error()
        );
        f();
    })
    .join()
    .unwrap_or_else(|_| panic!("netns thread panicked"));
}

#[test]
fn netns_tun_routes_and_kernel_round_trip() {
    if !have_root_or_skip() {
        return;
    }
    in_private_netns(|| {
        let tun = Tun::create(&TunSettings {
            name: "gwtest0".into(),
            mtu: 1420,
            address: Ipv4Addr::new(242, 0, 0, 1),
        })
        .unwrap();
        let idx = ifindex(tun.name()).unwrap();
        let mut routes = InstalledRoutes::new(idx).unwrap();
        routes.sync(&["243.0.0.0/16".parse().unwrap()]).unwrap();
        let table = std::fs::read_to_string("/proc/thread-self/net/route").unwrap();
        assert!(
            table.contains("gwtest0\t000000F3"),
            "route missing:\n{table}"
        );

        // A datagram sent by a local app to the remote block must come out of the TUN.
        let app = UdpSocket::bind("242.0.0.1:0").unwrap();
        app.send_to(b"hello", "243.0.0.5:9").unwrap();
        let mut scratch = vec![0u8; SUPERPACKET];
        let mut bufs = vec![vec![0u8; HEADROOM + 65_535]; IDEAL_BATCH_SIZE];
        let mut sizes = vec![0usize; IDEAL_BATCH_SIZE];
        let deadline = Instant::now() + Duration::from_secs(5);
        let packet = loop {
            assert!(Instant::now() < deadline, "no packet on the TUN");
            if !tun.wait_readable(Duration::from_millis(200)).unwrap() {
                continue;
            }
            let n = tun.read_batch(&mut scratch, &mut bufs, &mut sizes).unwrap();
            let found = (0..n)
                .map(|i| bufs[i][HEADROOM..HEADROOM + sizes[i]].to_vec())
                .find(|p| p.len() >= 20 && p[9] == 17 && p[16..20] == [243, 0, 0, 5]);
            if let Some(p) = found {
                break p;
            }
        };
        assert_eq!(&packet[12..16], &[242, 0, 0, 1]);
        assert_eq!(&packet[packet.len() - 5..], b"hello");

        // Removing the block's route again leaves the table clean.
        routes.sync(&[]).unwrap();
        let table = std::fs::read_to_string("/proc/thread-self/net/route").unwrap();
        assert!(!table.contains("000000F3"), "route left behind:\n{table}");
    });
}
