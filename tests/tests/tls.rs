//! TLS on the member port, with certificates from a private CA made by
//! `openssl`: clients reach the cluster over `wss://` with the CA, members
//! replicate to each other over TLS, a client without the CA is told why it
//! cannot connect, and a renewed certificate is served without a restart.

#![allow(clippy::unwrap_used)]

use raftcp::{Client, Error};
use raftcp_tests::{TestCluster, Timings, scratch_dir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs openssl with `args` in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "openssl {args:?}: {output:?}");
}

/// A CA, and a certificate it signed for 127.0.0.1 (`member-<n>.pem`,
/// `member-<n>.key`).
fn make_ca(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=raftcp test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

fn make_member_cert(dir: &Path, n: u32) {
    let (key, csr, pem) = (
        format!("member-{n}.key"),
        format!("member-{n}.csr"),
        format!("member-{n}.pem"),
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("member.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            "member.ext",
        ],
    );
}

/// The serial number of the certificate `addr` serves.
fn served_serial(addr: &str, ca: &Path) -> String {
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect {addr} -CAfile {} </dev/null 2>/dev/null \
             | openssl x509 -noout -serial",
            ca.display()
        ))
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn secure_urls(cluster: &TestCluster) -> Vec<String> {
    cluster
        .addrs
        .values()
        .map(|a| format!("wss://{a}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_and_members_speak_tls_with_a_private_ca() {
    let certs: PathBuf = scratch_dir("tls-certs");
    make_ca(&certs);
    make_member_cert(&certs, 1);
    // The files members serve; replaced below to renew the certificate.
    std::fs::copy(certs.join("member-1.pem"), certs.join("served.pem")).unwrap();
    std::fs::copy(certs.join("member-1.key"), certs.join("served.key")).unwrap();
    let path = |name: &str| certs.join(name).to_str().unwrap().to_owned();
    let mut cluster = TestCluster::prepare("tls", Timings::default());
    let args = [
        "--tls-cert".to_owned(),
        path("served.pem"),
        "--tls-key".to_owned(),
        path("served.key"),
        "--tls-ca".to_owned(),
        path("ca.pem"),
    ];
    cluster.set_extra_args(&args.iter().map(String::as_str).collect::<Vec<_>>());
    // `/health` is served over TLS too, so the harness cannot watch for a
    // leader; the client's first call waits for one.
    for id in [1, 2, 3] {
        cluster.start_node(id);
    }
    let ca = std::fs::read(certs.join("ca.pem")).unwrap();

    // With the CA: every write goes through the leader, which replicates
    // it to the others over TLS before answering.
    let client = Client::builder()
        .endpoints(secure_urls(&cluster))
        .ca_pem(&ca)
        .request_timeout(Duration::from_secs(60))
        .connect()
        .await
        .unwrap();
    let counter = client.get_atomic_long("over-tls");
    assert_eq!(counter.increment_and_get().await.unwrap(), 1);

    // Without the CA: the certificate is not trusted, and the error says so.
    let untrusting = Client::builder()
        .endpoints(secure_urls(&cluster))
        .request_timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap();
    match untrusting.get_atomic_long("over-tls").get().await {
        Err(Error::Unreachable { reason, .. }) => {
            assert!(reason.contains("certificate"), "{reason}")
        }
        other => panic!("expected an untrusted certificate, got {other:?}"),
    }
    // A plain client gets no session from a TLS member.
    let addr = cluster.addrs[&1].clone();
    let plain = Client::builder()
        .endpoints([format!("ws://{addr}")])
        .request_timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap();
    assert!(plain.get_atomic_long("over-tls").get().await.is_err());

    // A renewed certificate is served to new connections without a
    // restart, and clients keep working.
    let before = served_serial(&addr, &certs.join("ca.pem"));
    make_member_cert(&certs, 2);
    std::fs::copy(certs.join("member-2.key"), certs.join("served.key")).unwrap();
    std::fs::copy(certs.join("member-2.pem"), certs.join("served.pem")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while served_serial(&addr, &certs.join("ca.pem")) == before {
        assert!(Instant::now() < deadline, "still serving {before}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!before.is_empty());
    assert_eq!(counter.increment_and_get().await.unwrap(), 2);
    client.close().await;
}
