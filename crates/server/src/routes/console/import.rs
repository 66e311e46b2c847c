//! Inviting a CSV file from the console: the same format as `usher invite --csv` (a header
//! line, then `email[,role]` rows, role `user` when left out), a preview of what each row
//! would be, then one result per row from the bulk invite service.

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use minijinja::{Value, context};
use serde::Deserialize;
use usher_core::invite::{BulkItem, BulkRefusal, InviteError, InviteOutcome, Invitee, Run};
use usher_core::{EmailAddress, Role};

use super::session::{FromThisSite, Session, failed};
use crate::extract::PageForm;
use crate::state::AppState;

/// The largest file the console takes (about 25,000 rows); bigger ones go through the CLI.
const MAX_FILE_BYTES: usize = 1024 * 1024;
/// Rows per bulk call, the bulk route's limit.
const BATCH: usize = 1000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/apps/{app_id}/import", get(show))
        .route("/console/apps/{app_id}/import/preview", post(preview))
        .route("/console/apps/{app_id}/import", post(import))
        .layer(DefaultBodyLimit::max(MAX_FILE_BYTES + 4096))
}

#[derive(Deserialize)]
struct ImportForm {
    #[serde(default)]
    csv: String,
}

/// One data row of the file: its line number, what it says, and the parsed invite or why not.
struct Row {
    line: u64,
    email: String,
    role: String,
    item: BulkItem,
}

/// Reads the rows of `text`, or says why the file cannot be read at all.
fn rows(text: &str) -> Result<Vec<Row>, String> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let record = record.map_err(|err| format!("The file is not CSV that can be read: {err}."))?;
        let line = record.position().map_or(index as u64 + 2, csv::Position::line);
        let email = record.get(0).unwrap_or_default().to_owned();
        let role = record.get(1).filter(|r| !r.is_empty()).unwrap_or("user").to_owned();
        let refuse = |code, message: String| BulkRefusal { code, message };
        let item = match (EmailAddress::parse(&email), role.parse::<Role>()) {
            (Err(err), _) => Err(refuse("INVALID_EMAIL", err.to_string())),
            (_, Err(err)) => Err(refuse("INVALID_ROLE", err.to_string())),
            (Ok(address), Ok(role)) => Ok(Invitee::new(address, role)),
        };
        rows.push(Row { line, email, role, item });
    }
    Ok(rows)
}

async fn show(State(state): State<AppState>, session: Session) -> Response {
    session.page(&state, StatusCode::OK, "console/import.html", context! { section => "invitations" })
}

/// What each row would be, and the button that invites them.
async fn preview(
    State(state): State<AppState>,
    _: FromThisSite,
    session: Session,
    PageForm(form): PageForm<ImportForm>,
) -> Response {
    let rows = match rows(&form.csv) {
        Ok(rows) if rows.is_empty() => {
            return refused(&state, &session, &form.csv, "The file has no rows under its header line.");
        }
        Ok(rows) => rows,
        Err(reason) => return refused(&state, &session, &form.csv, &reason),
    };
    let ready = rows.iter().filter(|row| row.item.is_ok()).count();
    let shown: Vec<Value> = rows
        .iter()
        .map(|row| {
            let problem = row.item.as_ref().err().map(|refusal| refusal.message.clone());
            context! { line => row.line, email => row.email, role => row.role, problem }
        })
        .collect();
    let context =
        context! { section => "invitations", csv => form.csv, rows => shown, ready, refused => rows.len() - ready };
    session.page(&state, StatusCode::OK, "console/import_preview.html", context)
}

/// Invites every row, [`BATCH`] at a time, and shows one result per row.
async fn import(
    State(state): State<AppState>,
    _: FromThisSite,
    session: Session,
    PageForm(form): PageForm<ImportForm>,
) -> Response {
    let rows = match rows(&form.csv) {
        Ok(rows) => rows,
        Err(reason) => return refused(&state, &session, &form.csv, &reason),
    };
    let mut results = Vec::with_capacity(rows.len());
    let mut counts = [0_usize; 4];
    for chunk in rows.chunks(BATCH) {
        let items = chunk.iter().map(|row| row.item.clone()).collect();
        let outcomes = match state.invites.invite_many(&session.app, &session.principal, items, Run::Real).await {
            Ok(outcomes) => outcomes,
            Err(InviteError::Store(err)) => return failed(&state, &err),
            Err(err) => return refused(&state, &session, &form.csv, &err.to_string()),
        };
        for (row, outcome) in chunk.iter().zip(outcomes) {
            let (kind, said) = match outcome {
                Ok(InviteOutcome::Created(_)) => (0, "invited".to_owned()),
                Ok(InviteOutcome::Resent(_)) => (1, "invited again with a new link".to_owned()),
                Ok(InviteOutcome::AlreadyMember { .. }) => (2, "already a member: sign-in email sent".to_owned()),
                Err(InviteError::Refused(refusal)) => (3, refusal.message),
                Err(err) => (3, err.to_string()),
            };
            counts[kind] += 1;
            results.push(
                context! { line => row.line, email => row.email, role => row.role, said, is_refused => kind == 3 },
            );
        }
    }
    let [created, resent, members, refused] = counts;
    let context = context! { section => "invitations", results, created, resent, members, refused };
    session.page(&state, StatusCode::OK, "console/import_results.html", context)
}

fn refused(state: &AppState, session: &Session, csv: &str, error: &str) -> Response {
    let context = context! { section => "invitations", csv, error };
    session.page(state, StatusCode::BAD_REQUEST, "console/import.html", context)
}
