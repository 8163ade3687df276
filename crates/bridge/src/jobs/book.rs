//! The job book: the pinned jobs (`jobs.toml` in the config folder, written
//! only by the machine's owner) and the proposals from the hub (one file per
//! job in `job-proposals/` in the state folder), with the owner's actions on
//! them. Every action is one audit line.
//!
//! The book reads its files on every call, so `specbridge jobs approve` in a
//! shell takes effect in a running bridge at once, without a restart. Files
//! are replaced atomically (temp, fsync, rename) and private to the user.
//!
//! ```toml
//! [[job]]
//! id = "implement"
//! name = "Implement spec"
//! project = "app"
//! argv = ["claude", "-p", "Implement the spec named next", "{spec}"]
//! enabled = true
//! unattended = false
//!
//! [job.params.spec]
//! kind = "spec"
//! ```

use super::params::check_definition;
use super::JobsError;
use crate::audit::{AuditLog, AuditRecord};
use crate::config::Config;
use crate::fsutil;
use crate::paths::Paths;
use serde::{Deserialize, Serialize};
use specbridge_protocol::{JobAudit, JobAuditEntry, JobParam, Origin, Proposal, ProposalKind};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The top of a `jobs.toml` written by specbridge.
const HEADER: &str = "# Jobs pinned on this machine: the only programs the hub can start here.\n\
                      # Change them with `specbridge jobs` (or here, by hand). See docs/protocol.md, \"Jobs\".\n\n";

/// A job pinned by the machine's owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedJob {
    /// Id, unique on the machine (letters, digits, `-`, `_`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// The project it runs in (its folder is the working directory).
    pub project: String,
    /// The exact argv, run without a shell; an element `{name}` is a parameter.
    pub argv: Vec<String>,
    /// Typed parameters, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, JobParam>,
    /// Turned on: the hub may ask for runs.
    #[serde(default)]
    pub enabled: bool,
    /// Runs without a confirmation on the machine.
    #[serde(default)]
    pub unattended: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct PinnedFile {
    #[serde(default, rename = "job")]
    jobs: Vec<PinnedJob>,
}

/// The pinned jobs and the proposals of one machine.
#[derive(Debug, Clone)]
pub struct JobBook {
    pinned_file: PathBuf,
    proposals_dir: PathBuf,
    audit: AuditLog,
}

impl JobBook {
    /// The book in these folders (nothing is read until asked).
    pub fn open(paths: &Paths) -> Self {
        Self {
            pinned_file: paths.pinned_jobs_file(),
            proposals_dir: paths.proposals_dir(),
            audit: AuditLog::new(paths.audit_log()),
        }
    }

    /// The book writing its audit lines to `audit` (the engine's, which
    /// holds lines back while the disk is full).
    pub(crate) fn with_audit(mut self, audit: AuditLog) -> Self {
        self.audit = audit;
        self
    }

    /// The pinned jobs (none without a `jobs.toml`).
    pub fn pinned(&self) -> Result<Vec<PinnedJob>, JobsError> {
        let text = match std::fs::read_to_string(&self.pinned_file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(JobsError::Read { path: self.pinned_file.clone(), source }),
        };
        let file: PinnedFile = toml::from_str(&text)
            .map_err(|e| JobsError::Parse { path: self.pinned_file.clone(), message: e.message().to_owned() })?;
        // A hand edit that breaks a rule is refused as a whole: a job that runs
        // something other than what its owner meant is worse than no jobs.
        for job in &file.jobs {
            check_definition(&job.id, &job.name, &job.argv, &job.params).map_err(|e| JobsError::Parse {
                path: self.pinned_file.clone(),
                message: format!("job {:?}: {e}", job.id),
            })?;
        }
        Ok(file.jobs)
    }

    /// One pinned job.
    pub fn job(&self, id: &str) -> Result<PinnedJob, JobsError> {
        self.pinned()?.into_iter().find(|j| j.id == id).ok_or_else(|| JobsError::UnknownJob(id.to_owned()))
    }

    fn save(&self, jobs: Vec<PinnedJob>) -> Result<(), JobsError> {
        let body = toml::to_string_pretty(&PinnedFile { jobs })
            .map_err(|e| JobsError::Invalid(format!("cannot write the jobs as TOML: {e}")))?;
        let text = format!("{HEADER}{body}");
        fsutil::atomic_write(&self.pinned_file, text.as_bytes(), Some(fsutil::PRIVATE_FILE))
            .map_err(|source| JobsError::Write { path: self.pinned_file.clone(), source })
    }

    /// Pins a new job (off unless `job.enabled`). Its project must be shared.
    pub fn add(&self, job: PinnedJob, config: &Config) -> Result<(), JobsError> {
        check_definition(&job.id, &job.name, &job.argv, &job.params).map_err(JobsError::Invalid)?;
        if !config.projects.iter().any(|p| p.id == job.project) {
            return Err(JobsError::UnknownProject(job.project));
        }
        let mut jobs = self.pinned()?;
        if jobs.iter().any(|j| j.id == job.id) {
            return Err(JobsError::Exists(job.id));
        }
        let audit = local_audit(&job, None);
        let project = job.project.clone();
        jobs.push(job);
        self.save(jobs)?;
        self.record("local", &project, "job-add", "ok", &audit);
        Ok(())
    }

    /// Unpins a job. Its history stays in the state folder.
    pub fn remove(&self, id: &str) -> Result<PinnedJob, JobsError> {
        let mut jobs = self.pinned()?;
        let at = jobs.iter().position(|j| j.id == id).ok_or_else(|| JobsError::UnknownJob(id.to_owned()))?;
        let job = jobs.remove(at);
        self.save(jobs)?;
        self.record("local", &job.project, "job-remove", "ok", &local_audit(&job, None));
        Ok(job)
    }

    /// Turns a job on or off.
    pub fn set_enabled(&self, id: &str, enabled: bool) -> Result<PinnedJob, JobsError> {
        let command = if enabled { "job-enable" } else { "job-disable" };
        self.change(id, command, None, |job| job.enabled = enabled)
    }

    /// Lets a job run without a confirmation on the machine, or not. `why`
    /// goes into the audit line ("Always allow" from a consent prompt).
    pub fn set_unattended(&self, id: &str, unattended: bool, why: Option<&str>) -> Result<PinnedJob, JobsError> {
        let command = if unattended { "job-unattended" } else { "job-attended" };
        self.change(id, command, why, |job| job.unattended = unattended)
    }

    fn change(
        &self,
        id: &str,
        command: &str,
        why: Option<&str>,
        edit: impl FnOnce(&mut PinnedJob),
    ) -> Result<PinnedJob, JobsError> {
        let mut jobs = self.pinned()?;
        let job = jobs.iter_mut().find(|j| j.id == id).ok_or_else(|| JobsError::UnknownJob(id.to_owned()))?;
        edit(job);
        let job = job.clone();
        self.save(jobs)?;
        self.record("local", &job.project, command, "ok", &local_audit(&job, why));
        Ok(job)
    }

    /// The proposals waiting, oldest first (unreadable files are skipped).
    pub fn proposals(&self) -> Result<Vec<Proposal>, JobsError> {
        let entries = match std::fs::read_dir(&self.proposals_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(JobsError::Read { path: self.proposals_dir.clone(), source }),
        };
        let mut out: Vec<Proposal> = entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| std::fs::read(e.path()).ok())
            .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
            .collect();
        out.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        Ok(out)
    }

    /// A proposal by its id, or by the id of the job it is about.
    pub fn proposal(&self, id: &str) -> Result<Proposal, JobsError> {
        self.proposals()?
            .into_iter()
            .find(|p| p.id == id || p.job == id)
            .ok_or_else(|| JobsError::UnknownProposal(id.to_owned()))
    }

    /// Pins exactly the proposal that was `shown` to the owner, turned on
    /// (and unattended if asked). If the hub changed the proposal since, nothing
    /// is pinned ([`JobsError::ProposalChanged`]).
    pub fn approve(&self, shown: &Proposal, unattended: bool, config: &Config) -> Result<PinnedJob, JobsError> {
        let current = self.proposal(&shown.id)?;
        if &current != shown {
            return Err(JobsError::ProposalChanged(shown.id.clone()));
        }
        let job = PinnedJob {
            id: shown.job.clone(),
            name: shown.name.clone(),
            project: shown.project.clone(),
            argv: shown.argv.clone(),
            params: shown.params.clone(),
            enabled: true,
            unattended,
        };
        check_definition(&job.id, &job.name, &job.argv, &job.params).map_err(JobsError::Invalid)?;
        if !config.projects.iter().any(|p| p.id == job.project) {
            return Err(JobsError::UnknownProject(job.project));
        }
        let mut jobs = self.pinned()?;
        let existing = jobs.iter().position(|j| j.id == job.id);
        match (shown.kind, existing) {
            (ProposalKind::Create, Some(_)) => return Err(JobsError::Exists(job.id)),
            (ProposalKind::Update, None) => return Err(JobsError::UnknownJob(job.id)),
            (ProposalKind::Create, None) => jobs.push(job.clone()),
            (ProposalKind::Update, Some(at)) => jobs[at] = job.clone(),
        }
        self.save(jobs)?;
        self.remove_proposal_file(&shown.job)?;
        let mut audit = local_audit(&job, None);
        audit.requested_by.clone_from(&shown.requested_by);
        audit.note = Some(format!("approved proposal {} on the machine", shown.id));
        self.record("local", &job.project, "job-approve", "ok", &audit);
        Ok(job)
    }

    /// Drops a proposal on the owner's word.
    pub fn reject(&self, id: &str) -> Result<Proposal, JobsError> {
        let proposal = self.proposal(id)?;
        self.remove_proposal_file(&proposal.job)?;
        let mut audit = proposal_audit(&proposal, Origin::Machine);
        audit.note = Some("rejected on the machine".to_owned());
        self.record("local", &proposal.project, "job-reject", "ok", &audit);
        Ok(proposal)
    }

    /// Stores a proposal from the hub, replacing any earlier proposal for the
    /// same job. The caller has checked the definition and audits it.
    pub(crate) fn propose(&self, proposal: &Proposal) -> Result<(), JobsError> {
        fsutil::create_private_dir(&self.proposals_dir)
            .map_err(|source| JobsError::Write { path: self.proposals_dir.clone(), source })?;
        let path = self.proposal_file(&proposal.job);
        let bytes = serde_json::to_vec_pretty(proposal).map_err(|e| JobsError::Invalid(e.to_string()))?;
        fsutil::atomic_write(&path, &bytes, Some(fsutil::PRIVATE_FILE))
            .map_err(|source| JobsError::Write { path, source })
    }

    /// Withdraws a proposal (`job-delete` from the hub).
    pub(crate) fn withdraw(&self, id: &str) -> Result<Proposal, JobsError> {
        let proposal = self.proposal(id)?;
        self.remove_proposal_file(&proposal.job)?;
        Ok(proposal)
    }

    fn proposal_file(&self, job: &str) -> PathBuf {
        // Job ids are checked to be plain names before they get here.
        self.proposals_dir.join(format!("{job}.json"))
    }

    fn remove_proposal_file(&self, job: &str) -> Result<(), JobsError> {
        let path = self.proposal_file(job);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(JobsError::Write { path, source }),
        }
    }

    /// Appends one job line to the audit log.
    pub(crate) fn record(&self, request_id: &str, project: &str, command: &str, outcome: &str, job: &JobAudit) {
        self.audit.append(&AuditRecord {
            ts_ms: fsutil::now_ms(),
            request_id,
            project,
            command,
            path: None,
            base_hash: None,
            new_hash: None,
            outcome,
            job: Some(job),
        });
    }

    /// The job lines of the audit log for one project (newest first).
    pub(crate) fn audit_entries(&self, project: &str, id: Option<&str>, limit: usize) -> Vec<JobAuditEntry> {
        self.audit.job_entries(project, id, limit)
    }

    /// The pinned jobs file (for messages).
    pub fn pinned_file(&self) -> &Path {
        &self.pinned_file
    }
}

/// The audit details of an owner's action on a job.
fn local_audit(job: &PinnedJob, why: Option<&str>) -> JobAudit {
    JobAudit {
        id: job.id.clone(),
        origin: Origin::Machine,
        requested_by: None,
        argv: job.argv.clone(),
        params: BTreeMap::new(),
        consent: None,
        outcome: None,
        exit_code: None,
        duration_ms: None,
        note: why.map(str::to_owned),
    }
}

/// The audit details of an action on a proposal.
pub(crate) fn proposal_audit(proposal: &Proposal, origin: Origin) -> JobAudit {
    JobAudit {
        id: proposal.job.clone(),
        origin,
        requested_by: proposal.requested_by.clone(),
        argv: proposal.argv.clone(),
        params: BTreeMap::new(),
        consent: None,
        outcome: None,
        exit_code: None,
        duration_ms: None,
        note: Some(format!("proposal {}", proposal.id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, JobBook, Config) {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("app");
        std::fs::create_dir_all(&project).unwrap();
        let mut config = Config::default();
        config.add_project(&project, Some("app".into())).unwrap();
        let book = JobBook::open(&Paths::at(dir.path()));
        (dir, book, config)
    }

    fn job(id: &str, argv: &[&str]) -> PinnedJob {
        PinnedJob {
            id: id.into(),
            name: "Implement spec".into(),
            project: "app".into(),
            argv: argv.iter().map(|a| (*a).to_owned()).collect(),
            params: BTreeMap::from([("spec".to_owned(), JobParam::Spec)]),
            enabled: false,
            unattended: false,
        }
    }

    #[test]
    fn pinned_jobs_round_trip_through_a_private_toml_file() {
        let (dir, book, config) = setup();
        book.add(job("impl", &["agent", "--spec", "{spec}"]), &config).unwrap();
        assert!(matches!(book.add(job("impl", &["x", "{spec}"]), &config), Err(JobsError::Exists(_))));
        let mut other = job("other", &["x", "{spec}"]);
        other.project = "nope".into();
        assert!(matches!(book.add(other, &config), Err(JobsError::UnknownProject(_))));
        book.set_enabled("impl", true).unwrap();
        let back = book.job("impl").unwrap();
        assert_eq!((back.enabled, back.argv.len(), back.params.len()), (true, 3, 1));
        let text = std::fs::read_to_string(dir.path().join("jobs.toml")).unwrap();
        assert!(text.starts_with("# Jobs pinned") && text.contains("[[job]]"), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("jobs.toml")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A hand edit that breaks a rule (the program from a parameter) is refused as a whole.
        std::fs::write(dir.path().join("jobs.toml"), text.replace("\"agent\"", "\"{spec}\"")).unwrap();
        assert!(matches!(book.pinned(), Err(JobsError::Parse { .. })));
    }

    #[test]
    fn an_approval_pins_exactly_what_was_shown_and_a_changed_proposal_is_refused() {
        let (dir, book, config) = setup();
        let proposal = Proposal {
            id: "p_1".into(),
            job: "tests".into(),
            kind: ProposalKind::Create,
            project: "app".into(),
            name: "Tests".into(),
            argv: vec!["make".into(), "test".into()],
            params: BTreeMap::new(),
            requested_by: Some("acct-1".into()),
            created_ms: 1,
        };
        book.propose(&proposal).unwrap();
        // The hub changes it after the owner looked: the shown version is not approved.
        let sneaky = Proposal {
            id: "p_2".into(),
            argv: vec!["make".into(), "test".into(), "--eval=x".into()],
            ..proposal.clone()
        };
        book.propose(&sneaky).unwrap();
        assert!(matches!(book.approve(&proposal, false, &config), Err(JobsError::UnknownProposal(_))));
        let tampered = Proposal { argv: vec!["make".into()], ..sneaky.clone() };
        assert!(matches!(book.approve(&tampered, false, &config), Err(JobsError::ProposalChanged(_))));
        assert!(book.pinned().unwrap().is_empty(), "nothing pinned yet");
        let pinned = book.approve(&sneaky, false, &config).unwrap();
        assert_eq!((pinned.argv, pinned.enabled, pinned.unattended), (sneaky.argv.clone(), true, false));
        assert!(book.proposals().unwrap().is_empty());
        let audit = std::fs::read_to_string(dir.path().join("audit.log")).unwrap();
        let line: serde_json::Value = serde_json::from_str(audit.lines().last().unwrap()).unwrap();
        assert_eq!(
            (line["command"].as_str(), line["job"]["requested_by"].as_str()),
            (Some("job-approve"), Some("acct-1"))
        );
        assert_eq!(line["job"]["origin"], "machine");
    }
}
