//! An app's own email templates (admins and API keys): list every kind in every locale, show
//! the one delivery uses, save one (checked first: a template that would not render is
//! refused, so it can never stop delivery), remove one, and preview with sample data.

use axum::Json;
use axum::extract::{Path, State};
use usher_api_types as api;
use usher_core::Locale;
use usher_core::model::{App, MailKind, MailTemplate};
use usher_mail::templates::{self, Draft, Part};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::extract::{Admin, ApiJson, OptionalJson};
use crate::state::AppState;

/// The template routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_templates))
        .routes(routes!(show_template, save_template, delete_template))
        .routes(routes!(preview_template))
}

/// The kind named in the path.
fn kind_of(text: &str) -> Result<MailKind, ApiError> {
    MailKind::parse(text)
        .filter(|kind| templates::KINDS.contains(kind))
        .ok_or_else(|| ApiError::UnknownMailKind(text.to_owned()))
}

/// The kind and locale named in the path.
fn path_of(kind: &str, locale: &str) -> Result<(MailKind, Locale), ApiError> {
    Ok((kind_of(kind)?, Locale::parse(locale)?))
}

/// The app's own template of `kind` in `locale`, if it has one.
async fn own(state: &AppState, app: &App, kind: MailKind, locale: Locale) -> Result<Option<MailTemplate>, ApiError> {
    let all = state.store.mail_templates(&app.id).await?;
    Ok(all.into_iter().find(|t| t.kind == kind && t.locale == locale))
}

/// The template delivery uses for `kind` in `locale`: the app's own, else the built-in.
fn view(kind: MailKind, locale: Locale, own: Option<&MailTemplate>) -> api::MailTemplate {
    let builtin = |part| templates::builtin(kind, locale, part).unwrap_or_default().to_owned();
    let (source, subject, text, html, updated) = match own {
        Some(t) => (api::TemplateSource::App, t.subject.clone(), t.text.clone(), t.html.clone(), Some(t.updated_at)),
        None => (api::TemplateSource::BuiltIn, builtin(Part::Subject), builtin(Part::Text), builtin(Part::Html), None),
    };
    api::MailTemplate {
        kind: kind.as_str().to_owned(),
        locale: locale.as_str().to_owned(),
        source,
        subject,
        text,
        html,
        variables: templates::variables(kind).iter().map(|v| (*v).to_owned()).collect(),
        required_variable: templates::required_variable(kind).map(str::to_owned),
        updated_date: updated.map(usher_core::Timestamp::to_offset_date_time),
    }
}

/// Every kind of email in every locale, and which the app has its own template for.
#[utoipa::path(get, path = "/api/apps/{app_id}/templates", tag = "templates", params(("app_id" = String, Path, description = "The app's id")), responses((status = 200, description = "One row per kind and locale, with its source (`built_in` or `app`)", body = api::MailTemplateList), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn list_templates(
    State(state): State<AppState>,
    Admin(caller): Admin,
) -> Result<Json<api::MailTemplateList>, ApiError> {
    let own = state.store.mail_templates(&caller.app.id).await?;
    let mut items = Vec::new();
    for kind in templates::KINDS {
        for locale in Locale::ALL {
            let mine = own.iter().find(|t| t.kind == kind && t.locale == locale);
            items.push(api::MailTemplateSummary {
                kind: kind.as_str().to_owned(),
                locale: locale.as_str().to_owned(),
                source: if mine.is_some() { api::TemplateSource::App } else { api::TemplateSource::BuiltIn },
                updated_date: mine.map(|t| t.updated_at.to_offset_date_time()),
            });
        }
    }
    Ok(Json(api::MailTemplateList {
        default_locale: caller.app.settings.locale.as_str().to_owned(),
        locales: Locale::ALL.iter().map(|l| l.as_str().to_owned()).collect(),
        items,
    }))
}

/// The template delivery uses for this kind and locale: the app's own, else the built-in.
#[utoipa::path(get, path = "/api/apps/{app_id}/templates/{kind}/{locale}", tag = "templates", params(("app_id" = String, Path, description = "The app's id"), ("kind" = String, Path, description = "invitation, reminder, sign_in, password_reset, signup_code or account_exists"), ("locale" = String, Path, description = "en, de, fr or es")), responses((status = 200, description = "The template, its variables and its source", body = api::MailTemplate), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn show_template(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path((_, kind, locale)): Path<(String, String, String)>,
) -> Result<Json<api::MailTemplate>, ApiError> {
    let (kind, locale) = path_of(&kind, &locale)?;
    let mine = own(&state, &caller.app, kind, locale).await?;
    Ok(Json(view(kind, locale, mine.as_ref())))
}

/// Saves the app's own template for this kind and locale, after checking it: valid minijinja,
/// only the kind's variables, the link (or code) in the text and HTML, and a render with sample
/// data. Anything else is 422 `INVALID_TEMPLATE` (naming the part, the line and what is wrong)
/// and nothing is stored.
#[utoipa::path(put, path = "/api/apps/{app_id}/templates/{kind}/{locale}", tag = "templates", params(("app_id" = String, Path, description = "The app's id"), ("kind" = String, Path, description = "invitation, reminder, sign_in, password_reset, signup_code or account_exists"), ("locale" = String, Path, description = "en, de, fr or es")), request_body = api::MailTemplateBody, responses((status = 200, description = "The template as saved", body = api::MailTemplate), (status = "4XX", description = "A JSON error: `{message, code, detail}`; 422 INVALID_TEMPLATE says what is wrong", body = api::ErrorBody)))]
async fn save_template(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path((_, kind, locale)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<api::MailTemplateBody>,
) -> Result<Json<api::MailTemplate>, ApiError> {
    let (kind, locale) = path_of(&kind, &locale)?;
    let draft = Draft { subject: &body.subject, text: &body.text, html: &body.html };
    templates::check(kind, &draft).map_err(ApiError::InvalidTemplate)?;
    let template = MailTemplate {
        kind,
        locale,
        subject: body.subject,
        text: body.text,
        html: body.html,
        updated_at: state.clock.now(),
    };
    state.store.put_mail_template(&caller.app.id, &template, &caller.principal.actor()).await?;
    Ok(Json(view(kind, locale, Some(&template))))
}

/// Removes the app's own template for this kind and locale; delivery uses the built-in again,
/// which the answer shows. 404 `TEMPLATE_NOT_FOUND` when the app has none.
#[utoipa::path(delete, path = "/api/apps/{app_id}/templates/{kind}/{locale}", tag = "templates", params(("app_id" = String, Path, description = "The app's id"), ("kind" = String, Path, description = "invitation, reminder, sign_in, password_reset, signup_code or account_exists"), ("locale" = String, Path, description = "en, de, fr or es")), responses((status = 200, description = "The built-in template, now used again", body = api::MailTemplate), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn delete_template(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path((_, kind, locale)): Path<(String, String, String)>,
) -> Result<Json<api::MailTemplate>, ApiError> {
    let (kind, locale) = path_of(&kind, &locale)?;
    let by = caller.principal.actor();
    if !state.store.delete_mail_template(&caller.app.id, kind, locale, &by, state.clock.now()).await? {
        return Err(ApiError::TemplateNotFound);
    }
    Ok(Json(view(kind, locale, None)))
}

/// Renders this kind and locale with sample data (the app's name and URL, a made-up invitee,
/// link and code): the `draft` in the body when given (checked as saving would check it),
/// else what delivery would use.
#[utoipa::path(post, path = "/api/apps/{app_id}/templates/{kind}/{locale}/preview", tag = "templates", params(("app_id" = String, Path, description = "The app's id"), ("kind" = String, Path, description = "invitation, reminder, sign_in, password_reset, signup_code or account_exists"), ("locale" = String, Path, description = "en, de, fr or es")), request_body = api::PreviewTemplateRequest, responses((status = 200, description = "The rendered subject, text and HTML", body = api::TemplatePreview), (status = "4XX", description = "A JSON error: `{message, code, detail}`; 422 INVALID_TEMPLATE for a draft that would be refused", body = api::ErrorBody)))]
async fn preview_template(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path((_, kind, locale)): Path<(String, String, String)>,
    OptionalJson(body): OptionalJson<api::PreviewTemplateRequest>,
) -> Result<Json<api::TemplatePreview>, ApiError> {
    let (kind, locale) = path_of(&kind, &locale)?;
    let draft = body.and_then(|body| body.draft);
    let (source, template) = match draft {
        Some(draft) => {
            let checked = Draft { subject: &draft.subject, text: &draft.text, html: &draft.html };
            templates::check(kind, &checked).map_err(ApiError::InvalidTemplate)?;
            let template = MailTemplate {
                kind,
                locale,
                subject: draft.subject,
                text: draft.text,
                html: draft.html,
                updated_at: state.clock.now(),
            };
            (api::TemplateSource::Draft, Some(template))
        }
        None => match own(&state, &caller.app, kind, locale).await? {
            Some(mine) => (api::TemplateSource::App, Some(mine)),
            None => (api::TemplateSource::BuiltIn, None),
        },
    };
    let parts = state
        .mail
        .preview(&caller.app, kind, locale, template.as_ref())
        .map_err(|err| ApiError::Internal(Box::new(err)))?;
    Ok(Json(api::TemplatePreview { source, subject: parts.subject, text: parts.text, html: parts.html }))
}
