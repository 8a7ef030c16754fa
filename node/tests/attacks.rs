//! Issue 12: the attacks an outsider (no key of the ledger) or a dishonest insider (a genesis
//! node or insurer key) tried on real `fairshare-node` processes, each refused with a clear
//! error, changing nothing, with no node panicking and certification going on.

use std::time::Duration;

use ed25519_dalek::SigningKey;
use fairshare_api::tls::{self, Trust};
use fairshare_api::v1::{admin_client::AdminClient, MemberRequest, VerdictKind};
use fairshare_api::{Deadlines, Transport};
use fairshare_node::raft::TypeConfig;
use fairshare_node::raft_transport::{raft_client::RaftClient, RaftMessage};
use fairshare_protocol::genesis::node_signer;
use fairshare_protocol::testing::{test_key, INSURERS};
use fairshare_tests::{transport_as, wait_until, Cluster, Signer};
use openraft::raft::{AppendEntriesRequest, VoteRequest};
use tonic::Code;

const ALL: [&str; 4] = ["cz", "menzis", "vgz", "zk"];
const ELECTION: Duration = Duration::from_secs(30);
const CONVERGE: Duration = Duration::from_secs(30);
const QUICK: Deadlines = Deadlines::new(Duration::from_secs(2), Some(Duration::from_secs(5)));

fn cluster() -> Cluster {
    let mut cluster = Cluster::new(env!("CARGO_BIN_EXE_fairshare-node").as_ref());
    cluster.start_all();
    cluster.wait_for_leader(&ALL, ELECTION);
    cluster
}

fn node_trust() -> Trust {
    Trust::new(INSURERS.iter().map(|id| (test_key(&node_signer(id)).verifying_key().to_bytes(), format!("node {id}"))))
}

/// TLS without a client certificate: what anyone can do.
fn anonymous() -> Transport {
    Transport::Tls(tls::anonymous_client_config(node_trust()).unwrap())
}

/// A key that genesis does not name.
fn stranger() -> Transport {
    transport_as(&SigningKey::from_bytes(&[0x5a; 32]))
}

fn node_key(id: &str) -> SigningKey {
    test_key(&node_signer(id))
}

fn raft_id(id: &str) -> u64 {
    ALL.iter().position(|member| *member == id).unwrap() as u64 + 1
}

fn raft_client(cluster: &Cluster, target: &str, transport: &Transport) -> Result<RaftClient<tonic::transport::Channel>, String> {
    let address = cluster.nodes[target].address.clone();
    let transport = transport.clone();
    cluster
        .block_on(async move { fairshare_api::channel(&address, QUICK, &transport).await })
        .map(RaftClient::new)
        .map_err(|error| error.to_string())
}

fn vote(term: u64, candidate: &str) -> RaftMessage {
    let request = VoteRequest::<u64>::new(openraft::Vote::new(term, raft_id(candidate)), None);
    RaftMessage { json: serde_json::to_vec(&request).unwrap() }
}

fn append_entries(term: u64, leader: &str) -> RaftMessage {
    let request = AppendEntriesRequest::<TypeConfig> {
        vote: openraft::Vote::new_committed(term, raft_id(leader)),
        prev_log_id: None,
        entries: Vec::new(),
        leader_commit: None,
    };
    RaftMessage { json: serde_json::to_vec(&request).unwrap() }
}

fn send_vote(cluster: &Cluster, target: &str, transport: &Transport, message: RaftMessage) -> Result<(), tonic::Status> {
    let mut client = raft_client(cluster, target, transport).map_err(tonic::Status::unavailable)?;
    cluster.block_on(async move { client.vote(message).await.map(|_| ()) })
}

fn send_append(cluster: &Cluster, target: &str, transport: &Transport, message: RaftMessage) -> Result<(), tonic::Status> {
    let mut client = raft_client(cluster, target, transport).map_err(tonic::Status::unavailable)?;
    cluster.block_on(async move { client.append_entries(message).await.map(|_| ()) })
}

/// Writes still commit on all four nodes and get certified: nothing was disturbed.
fn writes_and_certification_go_on(cluster: &Cluster, signer: &mut Signer, number: u32) {
    let response = cluster.submit("cz", signer.party("zk", number)).expect("submit");
    assert_eq!(response.verdict, VerdictKind::Applied as i32, "{response:?}");
    let size = response.index + 1;
    cluster.wait_for_agreement(&ALL, size, CONVERGE);
    wait_until("certification to reach the new size", CONVERGE, || {
        cluster.status("cz").ok().filter(|status| status.certified_size >= size)
    });
    for id in ALL {
        assert!(cluster.status(id).expect("status").evidence.is_empty(), "no evidence against any node");
    }
}

fn no_panic(cluster: &mut Cluster) {
    for id in ALL {
        assert!(cluster.exited(id).is_none(), "{id} exited: {}", cluster.log(id));
        assert!(!cluster.log(id).contains("panicked"), "{id} panicked: {}", cluster.log(id));
    }
}

#[test]
fn an_outsider_without_a_genesis_key_reads_nothing_but_health() {
    let mut cluster = cluster();
    let address = cluster.nodes["cz"].address.clone();

    // A certificate for a key genesis does not name: the handshake itself is refused.
    let (to, transport) = (address.clone(), stranger());
    let refused = cluster.block_on(async move {
        let mut client = fairshare_api::connect(&to, QUICK, &transport).await.map_err(|error| error.to_string())?;
        client.status(fairshare_api::v1::StatusRequest {}).await.map(|_| ()).map_err(|status| status.to_string())
    });
    assert!(refused.is_err(), "a stranger's certificate must not get a status");

    // No certificate at all: health answers, nothing else does.
    let (to, transport) = (address.clone(), anonymous());
    let (health, status) = cluster.block_on(async move {
        let channel = fairshare_api::channel(&to, QUICK, &transport).await.expect("TLS without a client certificate connects");
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
        let health = health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await;
        let status = fairshare_api::ledger_client(channel).status(fairshare_api::v1::StatusRequest {}).await;
        (health, status)
    });
    assert_eq!(
        health.expect("health answers anyone").into_inner().status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    let status = status.expect_err("status needs a genesis identity");
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(status.message().contains("genesis identities over mutual TLS"), "{}", status.message());

    // Plain text to a TLS port gets nowhere.
    let plain = address.replacen("https://", "http://", 1);
    let answered = cluster.block_on(async move {
        let mut client = fairshare_api::connect(&plain, QUICK, &Transport::Insecure).await.map_err(|error| error.to_string())?;
        client.status(fairshare_api::v1::StatusRequest {}).await.map(|_| ()).map_err(|status| status.to_string())
    });
    assert!(answered.is_err(), "plain text must not be answered");

    let mut signer = Signer::new("iza-test", 0);
    writes_and_certification_go_on(&cluster, &mut signer, 1);
    no_panic(&mut cluster);
}

#[test]
fn a_forged_vote_from_an_outsider_or_a_client_key_never_reaches_raft() {
    let mut cluster = cluster();
    let leader = cluster.wait_for_leader(&ALL, ELECTION);
    let term = cluster.status(&leader).unwrap().term;
    let target = ALL.iter().copied().find(|id| *id != leader).unwrap();

    let anonymous = send_vote(&cluster, target, &anonymous(), vote(term + 1, target)).expect_err("no certificate");
    assert_eq!(anonymous.code(), Code::Unauthenticated, "{anonymous}");
    assert!(send_vote(&cluster, target, &stranger(), vote(term + 1, target)).is_err(), "a stranger's certificate");
    // An insurer's signing key is a genesis identity, but not a node: no Raft.
    let insurer = send_vote(&cluster, target, &transport_as(&test_key("zk")), vote(term + 1, "zk")).expect_err("an insurer key");
    assert_eq!(insurer.code(), Code::PermissionDenied, "{insurer}");
    assert!(insurer.message().contains("not a node"), "{}", insurer.message());

    let status = cluster.status(target).unwrap();
    assert_eq!((status.leader.as_str(), status.term), (leader.as_str(), term), "no election, no new term");
    let mut signer = Signer::new("iza-test", 0);
    writes_and_certification_go_on(&cluster, &mut signer, 1);
    no_panic(&mut cluster);
}

#[test]
fn a_raft_message_under_another_nodes_name_is_refused_and_recorded() {
    let mut cluster = cluster();
    let leader = cluster.wait_for_leader(&ALL, ELECTION);
    let term = cluster.status(&leader).unwrap().term;
    let mut followers = ALL.iter().copied().filter(|id| *id != leader);
    let (dishonest, victim) = (followers.next().unwrap(), followers.next().unwrap());
    let as_dishonest = transport_as(&node_key(dishonest));

    // An empty block "from the leader" (the forged AppendEntries that made a follower skip
    // a committed block), sent by another node holding its own genesis key.
    let forged = send_append(&cluster, victim, &as_dishonest, append_entries(term, &leader)).expect_err("forged AppendEntries");
    assert_eq!(forged.code(), Code::PermissionDenied, "{forged}");
    assert!(forged.message().contains(&format!("connection is node {dishonest}'s")), "{}", forged.message());
    // A vote for another candidate, likewise.
    let forged = send_vote(&cluster, victim, &as_dishonest, vote(term + 1, &leader)).expect_err("forged vote");
    assert_eq!(forged.code(), Code::PermissionDenied, "{forged}");

    let status = cluster.status(victim).unwrap();
    assert_eq!((status.leader.as_str(), status.term), (leader.as_str(), term));
    assert!(
        status.misbehaviour.iter().any(|line| line.contains(&format!("node {dishonest}")) && line.contains("another node's name")),
        "recorded as {dishonest}'s misbehaviour: {:?}",
        status.misbehaviour
    );
    let mut signer = Signer::new("iza-test", 0);
    writes_and_certification_go_on(&cluster, &mut signer, 1);
    no_panic(&mut cluster);
}

#[test]
fn a_vote_with_a_term_near_u64_max_is_refused_and_raft_lives_on() {
    let mut cluster = cluster();
    let leader = cluster.wait_for_leader(&ALL, ELECTION);
    let term = cluster.status(&leader).unwrap().term;
    let dishonest = ALL.iter().copied().find(|id| *id != leader).unwrap();
    let as_dishonest = transport_as(&node_key(dishonest));

    // The node speaks as itself, so only the term is wrong; it goes to every other node,
    // the leader included (whose openraft panicked on it before).
    for target in ALL.iter().copied().filter(|id| *id != dishonest) {
        let refused = send_vote(&cluster, target, &as_dishonest, vote(u64::MAX - 1, dishonest)).expect_err("an absurd term");
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused}");
        assert!(refused.message().contains("beyond this node's term"), "{}", refused.message());
        let refused = send_append(&cluster, target, &as_dishonest, append_entries(u64::MAX, dishonest)).expect_err("absurd term");
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused}");
    }
    for target in ALL.iter().copied().filter(|id| *id != dishonest) {
        let status = cluster.status(target).unwrap();
        assert_eq!((status.leader.as_str(), status.term), (leader.as_str(), term), "{target} kept its leader and term");
        assert!(
            status.misbehaviour.iter().any(|line| line.contains(&format!("node {dishonest}")) && line.contains("term")),
            "{target}: {:?}",
            status.misbehaviour
        );
    }
    let mut signer = Signer::new("iza-test", 0);
    writes_and_certification_go_on(&cluster, &mut signer, 1);
    no_panic(&mut cluster);

    // And nothing absurd reached a disk: a restart of the leader elects normally.
    cluster.kill(&leader);
    cluster.start(&leader);
    cluster.wait_for_leader(&ALL, ELECTION);
    writes_and_certification_go_on(&cluster, &mut signer, 2);
    no_panic(&mut cluster);
}

#[test]
fn membership_changes_by_an_outsider_or_another_insurer_are_refused() {
    let mut cluster = cluster();
    let leader = cluster.wait_for_leader(&ALL, ELECTION);
    let victim = ALL.iter().copied().find(|id| *id != leader).unwrap();
    let other = ALL.iter().copied().find(|id| *id != leader && *id != victim).unwrap();
    let remove = |transport: Transport| {
        let address = cluster.nodes[&leader].address.clone();
        let node = victim.to_string();
        cluster.block_on(async move {
            let channel =
                fairshare_api::channel(&address, QUICK, &transport).await.map_err(|error| tonic::Status::unavailable(error.to_string()))?;
            AdminClient::new(channel)
                .remove(MemberRequest { node, address: String::new(), proposal: String::new() })
                .await
                .map(|reply| reply.into_inner().message)
        })
    };

    let refused = remove(anonymous()).expect_err("no certificate");
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused}");
    assert!(remove(stranger()).is_err(), "a stranger's certificate");
    for transport in [transport_as(&test_key(other)), transport_as(&node_key(other)), transport_as(&test_key("nza"))] {
        let refused = remove(transport).expect_err("another party");
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused}");
        assert!(refused.message().contains(&format!("may not change the membership of {victim}'s node")), "{}", refused.message());
    }
    // The victim is still a voter: it keeps receiving and certifying.
    let mut signer = Signer::new("iza-test", 0);
    writes_and_certification_go_on(&cluster, &mut signer, 1);
    no_panic(&mut cluster);
}

#[test]
fn an_insecure_cluster_says_so_in_every_log_line_and_in_its_status() {
    let mut cluster = Cluster::new_insecure(env!("CARGO_BIN_EXE_fairshare-node").as_ref());
    cluster.start_all();
    let leader = cluster.wait_for_leader(&ALL, ELECTION);
    let status = cluster.status(&leader).unwrap();
    assert!(status.transport.starts_with("INSECURE"), "{}", status.transport);
    let log = cluster.log(&leader);
    assert!(log.lines().count() > 1, "{log}");
    for line in log.lines().filter(|line| !line.trim().is_empty()) {
        assert!(line.starts_with(fairshare_node::logging::INSECURE_PREFIX), "every line says so: {line}");
    }
    // And a TLS client gets nothing from it: the two do not mix by accident.
    let address = cluster.nodes[&leader].address.replacen("http://", "https://", 1);
    let transport = fairshare_tests::transport();
    let refused = cluster.block_on(async move { fairshare_api::connect(&address, QUICK, &transport).await.map(|_| ()) });
    assert!(refused.is_err());
    no_panic(&mut cluster);
}

fn query_as(cluster: &Cluster, transport: &Transport, query: fairshare_api::v1::query_request::Query) -> Result<String, tonic::Status> {
    let address = cluster.nodes["cz"].address.clone();
    let transport = transport.clone();
    cluster.block_on(async move {
        let mut client =
            fairshare_api::connect(&address, QUICK, &transport).await.map_err(|error| tonic::Status::unavailable(error.to_string()))?;
        client.query(fairshare_api::v1::QueryRequest { query: Some(query), min_size: 0 }).await.map(|reply| reply.into_inner().json)
    })
}

#[test]
fn a_read_identity_reads_only_what_is_owed_to_its_party_and_nobody_reads_without_one() {
    use fairshare_api::v1::{query_request::Query, Empty, ObligationFilter};
    use fairshare_protocol::pb::{self, transaction::Kind};
    let mut cluster = cluster();
    let mut signer = Signer::new("iza-test", 0);
    let mut envelopes = fairshare_tests::approved_plan(&mut signer, "p1");
    envelopes.extend(fairshare_tests::attain_and_confirm(&mut signer, "p1", "m1"));
    envelopes.push(signer.sign(
        "zk",
        Kind::PartyRegistered(pb::PartyRegistered {
            party: "agb:20000002".into(),
            kind: pb::PartyKind::Provider as i32,
            name: "Elsewhere".into(),
            iban: "NL91ABNA0417164300".into(),
        }),
    ));
    let reader_key = test_key("reader of agb:10000001");
    envelopes.push(signer.sign(
        "zk",
        Kind::ReaderRegistered(pb::ReaderRegistered {
            party: "agb:10000001".into(),
            public_key: reader_key.verifying_key().to_bytes().to_vec(),
        }),
    ));
    let mut size = 0;
    for envelope in envelopes {
        let response = cluster.submit("cz", envelope).expect("submit");
        assert_eq!(response.verdict, VerdictKind::Applied as i32, "{response:?}");
        size = response.index + 1;
    }
    // The leader answered; cz, which is queried below, may apply a moment later.
    cluster.wait_for_agreement(&["cz"], size, CONVERGE);
    let reader = transport_as(&reader_key);

    // Its own obligations, and nothing of anyone else's.
    let all = query_as(&cluster, &reader, Query::Obligations(ObligationFilter::default())).expect("its obligations");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&all).unwrap();
    assert!(!rows.is_empty(), "the confirmed milestone owes agb:10000001");
    assert!(rows.iter().all(|row| row["payee"] == "agb:10000001" || row["provider"] == "agb:10000001"), "{all}");
    let other = ObligationFilter { party: "agb:20000002".into(), ..ObligationFilter::default() };
    assert_eq!(query_as(&cluster, &reader, Query::Obligations(other)).unwrap_err().code(), Code::PermissionDenied);
    for forbidden in [Query::Parties(Empty {}), Query::Plans(Empty {}), Query::Fund(Empty {}), Query::Payments(Empty {})] {
        let refused = query_as(&cluster, &reader, forbidden).expect_err("not its business");
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused}");
        assert!(refused.message().contains("read identity of agb:10000001"), "{}", refused.message());
    }
    let balances = query_as(&cluster, &reader, Query::PartyBalances(Empty {})).expect("its balance");
    assert!(balances.contains("agb:10000001") && !balances.contains("agb:20000002") && !balances.contains("NL91"), "{balances}");
    // Nor the log, nor a submission.
    let address = cluster.nodes["cz"].address.clone();
    let transport = reader.clone();
    let log = cluster.block_on(async move {
        let mut client = fairshare_api::connect(&address, QUICK, &transport).await.unwrap();
        client.audit_log(fairshare_api::v1::AuditLogRequest { from_log_index: 0, follow: false }).await.map(|_| ())
    });
    assert_eq!(log.unwrap_err().code(), Code::PermissionDenied);

    // A key nobody registered, and no certificate at all, read nothing.
    for transport in [stranger(), anonymous()] {
        let refused = query_as(&cluster, &transport, Query::Parties(Empty {})).expect_err("no identity");
        assert_eq!(refused.code(), Code::Unauthenticated, "{refused}");
    }
    // An insurer reads everything, IBANs included.
    assert!(query_as(&cluster, &fairshare_tests::transport(), Query::Parties(Empty {})).unwrap().contains("NL91ABNA0417164300"));
    no_panic(&mut cluster);
}

#[test]
fn a_forged_install_snapshot_from_a_dishonest_node_is_refused_and_every_state_is_kept() {
    use fairshare_protocol::pb::{self, transaction::Kind};
    let mut cluster = cluster();
    let leader = cluster.wait_for_leader(&ALL, ELECTION);
    let mut signer = Signer::new("iza-test", 0);
    let registered = signer.sign(
        "zk",
        Kind::PartyRegistered(pb::PartyRegistered {
            party: "kvk:30000003".into(),
            kind: pb::PartyKind::Cashier as i32,
            name: "Regiokassier".into(),
            iban: "NL91ABNA0417164300".into(),
        }),
    );
    assert_eq!(cluster.submit("cz", registered).unwrap().verdict, VerdictKind::Applied as i32);
    let before = cluster.wait_for_agreement(&ALL, 1, CONVERGE);
    let term = cluster.status(&leader).unwrap().term;
    let mut followers = ALL.iter().copied().filter(|id| *id != leader);
    let (dishonest, victim) = (followers.next().unwrap(), followers.next().unwrap());

    // The dishonest node (its own genesis key, speaking as itself, at a higher term) sends
    // the state of the ledger with the cashier's IBAN changed, claiming it is far ahead.
    let genesis = std::sync::Arc::new(fairshare_protocol::testing::genesis_file("1000000.00").build().unwrap());
    let mut forged = fairshare_protocol::Ledger::new(genesis);
    let block = pb::Block {
        envelopes: vec![signer.sign(
            "zk",
            Kind::PartyRegistered(pb::PartyRegistered {
                party: "kvk:30000003".into(),
                kind: pb::PartyKind::Cashier as i32,
                name: "Regiokassier".into(),
                iban: "NL20INGB0001234567".into(),
            }),
        )],
    };
    forged.apply_block(&block);
    let log_id = serde_json::json!({ "leader_id": { "term": term + 1, "node_id": raft_id(dishonest) }, "index": 10_000 });
    let nodes: serde_json::Map<String, serde_json::Value> =
        ALL.iter().map(|id| (raft_id(id).to_string(), serde_json::json!({ "addr": cluster.nodes[*id].address }))).collect();
    let membership = serde_json::json!({ "log_id": log_id, "membership": { "configs": [[1, 2, 3, 4]], "nodes": nodes } });
    let body = serde_json::json!({ "last_applied": log_id, "last_membership": membership, "ledger": forged.data() });
    let request = serde_json::json!({
        "vote": { "leader_id": { "term": term + 1, "node_id": raft_id(dishonest) }, "committed": false },
        "meta": { "last_log_id": log_id, "last_membership": membership, "snapshot_id": "forged-1" },
        "offset": 0,
        "data": serde_json::to_vec(&body).unwrap(),
        "done": true,
    });
    let message = RaftMessage { json: serde_json::to_vec(&request).unwrap() };
    let mut client = raft_client(&cluster, victim, &transport_as(&node_key(dishonest))).unwrap();
    let refused = cluster.block_on(async move { client.install_snapshot(message).await }).expect_err("a forged snapshot");
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused}");
    assert!(refused.message().starts_with("snapshot refused"), "{}", refused.message());

    let status = cluster.status(victim).unwrap();
    assert_eq!((status.size, &status.root), (before.size, &before.root), "the victim kept its state");
    assert!(
        status.misbehaviour.iter().any(|line| line.contains(&format!("node {dishonest}")) && line.contains("snapshot")),
        "{:?}",
        status.misbehaviour
    );
    let transport = fairshare_tests::transport();
    let parties = query_as(&cluster, &transport, fairshare_api::v1::query_request::Query::Parties(fairshare_api::v1::Empty {})).unwrap();
    assert!(parties.contains("NL91ABNA0417164300") && !parties.contains("NL20INGB0001234567"), "{parties}");
    writes_and_certification_go_on(&cluster, &mut signer, 1);
    no_panic(&mut cluster);
}

#[test]
fn another_insurers_node_changes_only_on_a_proposal_two_thirds_approved_on_the_ledger() {
    use fairshare_protocol::pb::{self, transaction::Kind};
    let mut cluster = cluster();
    let leader = cluster.wait_for_leader(&ALL, ELECTION);
    let victim = ALL.iter().copied().find(|id| *id != leader).unwrap();
    let operator = ALL.iter().copied().find(|id| *id != leader && *id != victim).unwrap();
    let remove = |cluster: &Cluster, proposal: Option<&str>| {
        let mut arguments = vec!["remove", victim];
        arguments.extend(proposal.map(|proposal| ["--proposal", proposal]).into_iter().flatten());
        let output = cluster.admin(&leader, operator, &arguments);
        (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let (done, stderr) = remove(&cluster, None);
    assert!(!done && stderr.contains("needs a proposal approved by more than two thirds"), "{stderr}");

    let mut signer = Signer::new("iza-test", 0);
    let approve = |signer: &mut Signer, insurer: &str| {
        let approval = pb::MembershipApproved {
            proposal: "replace-victim".into(),
            node: victim.into(),
            change: pb::MembershipChange::Remove as i32,
            address: String::new(),
        };
        signer.sign(insurer, Kind::MembershipApproved(approval))
    };
    let approvers: Vec<&str> = ALL.iter().copied().filter(|id| *id != victim).collect();
    for insurer in &approvers[..2] {
        assert_eq!(cluster.submit("cz", approve(&mut signer, insurer)).unwrap().verdict, VerdictKind::Applied as i32);
    }
    let (done, stderr) = remove(&cluster, Some("replace-victim"));
    assert!(!done && stderr.contains("has 2 of the 3 approvals"), "two of four insurers are not enough: {stderr}");

    assert_eq!(cluster.submit("cz", approve(&mut signer, approvers[2])).unwrap().verdict, VerdictKind::Applied as i32);
    let (done, stderr) = remove(&cluster, Some("replace-victim"));
    assert!(done, "three of four approved: {stderr}");
    // Removed: the others go on without it.
    let others: Vec<&str> = ALL.iter().copied().filter(|id| *id != victim).collect();
    let response = cluster.submit(&leader, signer.party("zk", 7)).unwrap();
    assert_eq!(response.verdict, VerdictKind::Applied as i32);
    cluster.wait_for_agreement(&others, response.index + 1, CONVERGE);
    assert!(cluster.status(victim).unwrap().size <= response.index, "the removed node gets no new entries");
    // A proposal is executed once: the ledger records who executed it and refuses a second
    // use (here: promoting the leader's node, a voter already, so the change is harmless).
    for insurer in &approvers {
        let approval = pb::MembershipApproved {
            proposal: "promote-leader".into(),
            node: leader.clone(),
            change: pb::MembershipChange::Promote as i32,
            address: String::new(),
        };
        assert_eq!(
            cluster.submit(&leader, signer.sign(insurer, Kind::MembershipApproved(approval))).unwrap().verdict,
            VerdictKind::Applied as i32
        );
    }
    let first = cluster.admin(&leader, operator, &["promote", &leader, "--proposal", "promote-leader"]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let second = cluster.admin(&leader, operator, &["promote", &leader, "--proposal", "promote-leader"]);
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("executed already"), "{}", String::from_utf8_lossy(&second.stderr));
    // A mismatched use of an approved proposal is refused too.
    let mismatched = cluster.admin(&leader, operator, &["promote", victim, "--proposal", "promote-leader"]);
    assert!(String::from_utf8_lossy(&mismatched.stderr).contains("not this change"), "{}", String::from_utf8_lossy(&mismatched.stderr));
    no_panic(&mut cluster);
}
