//! The command catalogue: names, kinds and argument parsing, as both the hub
//! and the bridge rely on them.
#![allow(clippy::unwrap_used)] // a panic is a failed test

use serde_json::json;
use specbridge_protocol::*;

#[test]
fn every_name_round_trips_and_unknown_names_are_invalid_with_a_hint() {
    for name in CommandName::ALL {
        assert_eq!(CommandName::from_wire(name.as_str()), Some(*name));
        assert_eq!(serde_json::to_value(name).unwrap(), json!(name.as_str()));
    }
    assert_eq!(CommandName::ALL.len(), 42);
    let error = Call::parse("rm-rf", &json!({})).unwrap_err();
    assert_eq!(error.code, ErrorCode::Invalid);
    assert!(error.message.contains("rm-rf") && error.hint.is_some());
}

#[test]
fn only_reads_are_unrecorded() {
    use CommandName::*;
    for name in [FileRead, SpecList, SpecRead, ApprovalDiff, JobGet, ImplLogSearch] {
        assert!(!name.is_recorded(), "{name}");
    }
    for name in [FileWrite, UpdateFrontmatter, ApprovalUpdate, CreateSpec, JobRun, JobCreate, ImplLogAdd] {
        assert!(name.is_recorded(), "{name}");
    }
}

#[test]
fn arguments_parse_into_their_types() {
    let call =
        Call::parse("update-frontmatter", &json!({"name": "001-auth", "changes": {"status": "complete"}})).unwrap();
    let Call::UpdateFrontmatter(args) = &call else { panic!("{call:?}") };
    assert_eq!(args.name, "001-auth");
    assert_eq!(call.summary(), "001-auth: status -> complete");
    assert_eq!(call.target(), "001-auth");
    // No arguments: `null` and `{}` both work, extra keys are ignored.
    assert_eq!(Call::parse("spec-list", &serde_json::Value::Null).unwrap(), Call::SpecList(NoArgs {}));
    assert_eq!(Call::parse("spec-list", &json!({"later": 1})).unwrap(), Call::SpecList(NoArgs {}));
    // Aliases kept from the first version of the protocol.
    let Call::SteeringRead(args) = Call::parse("steering-read", &json!({"name": "tech"})).unwrap() else { panic!() };
    assert_eq!(args.doc, "tech");
    // A plain string is text content.
    let Call::FileWrite(args) = Call::parse("file-write", &json!({"path": "a.md", "content": "hi"})).unwrap() else {
        panic!()
    };
    assert_eq!(args.content, Content::text("hi"));
}

#[test]
fn bad_arguments_are_invalid_and_name_the_command() {
    let error = Call::parse("task-status-update", &json!({"name": "x"})).unwrap_err();
    assert_eq!(error.code, ErrorCode::Invalid);
    assert!(error.message.contains("task-status-update"), "{}", error.message);
    let error = Call::parse("approval-snapshot-get", &json!({"id": "a", "version": "three"})).unwrap_err();
    assert_eq!(error.code, ErrorCode::Invalid);
}

#[test]
fn a_malformed_base_hash_is_invalid_not_a_conflict() {
    let args = json!({"path": "a.md", "content": "x", "base_hash": "ABC"});
    let error = Call::parse("file-write", &args).unwrap_err();
    assert_eq!(error.code, ErrorCode::Invalid);
    assert!(error.message.contains("base_hash"));
    let good = "0".repeat(HASH_HEX_LEN);
    let call = Call::parse("spec-archive", &json!({"name": "x", "base_hash": good})).unwrap();
    assert_eq!(call.base_hash(), Some(good.as_str()));
}

#[test]
fn the_args_of_a_call_parse_back_to_the_same_call() {
    let calls = [
        Call::TaskStatusUpdate(TaskStatusArgs {
            name: "auth".into(),
            task_id: "1.2".into(),
            status: "blocked".into(),
            reason: Some("waiting for API keys".into()),
            base_hash: None,
        }),
        Call::ApprovalUpdate(ApprovalUpdateArgs {
            id: "approval_1_x".into(),
            action: "approve".into(),
            response: None,
            comments: vec![json!({"type": "general", "comment": "ok"})],
            base_hash: None,
        }),
        Call::ImplLogAdd(LogAddArgs {
            name: "auth".into(),
            entry: serde_json::from_value(json!({"taskId": "1", "summary": "done"})).unwrap(),
        }),
    ];
    for call in calls {
        let command = Command::new("c", "p", &call, 1000);
        assert_eq!(command.call().unwrap(), call);
    }
}

#[test]
fn layouts_have_wire_names_and_unknown_ones_read_as_generic() {
    for layout in [Layout::LeanSpec, Layout::SpecWorkflow, Layout::SpecContext, Layout::Generic] {
        assert_eq!(serde_json::to_value(layout).unwrap(), json!(layout.as_str()));
        assert_eq!(Layout::from_wire(layout.as_str()), layout);
    }
    let newer: Layout = serde_json::from_str("\"openspec\"").unwrap();
    assert_eq!(newer, Layout::Generic);
}

#[test]
fn a_job_run_names_a_job_and_its_parameters_and_nothing_else() {
    let call = Call::parse("job-run", &json!({"id": "implement", "params": {"spec": "012"}})).unwrap();
    let Call::JobRun(args) = &call else { panic!("{call:?}") };
    assert_eq!(args.params.get("spec").map(String::as_str), Some("012"));
    assert_eq!(call.summary(), "run job implement (spec=012)");
    for extra in [json!({"argv": ["x"]}), json!({"args": ["--eval=1"]}), json!({"command": ["sh", "-c", "id"]})] {
        let mut args = json!({"id": "implement"});
        args.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let error = Call::parse("job-run", &args).unwrap_err();
        assert_eq!(error.code, ErrorCode::Invalid, "{args}");
    }
    // Who asked is the hub's to say: a client's value is replaced.
    let mut call = Call::parse("job-run", &json!({"id": "t", "requested_by": "the boss"})).unwrap();
    call.set_requester("account a");
    assert_eq!(call.args()["requested_by"], "account a");
}
