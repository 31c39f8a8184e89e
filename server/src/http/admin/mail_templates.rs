//! `/v1/admin/mail-templates`: the account emails' templates as admins see
//! them — each with its variables, the parts in use (shipped or edited) and
//! the shipped ones — `PUT …/{key}` to edit one, `DELETE …/{key}` to go back
//! to the shipped parts, and `POST …/{key}/preview` to render parts with
//! sample values before saving. A part that does not parse, or uses a
//! variable its template is not given, is refused (422) with minijinja's
//! reason, and nothing changes; every change is in the audit log.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::Method;
use orrery_domain::policy::Action;
use orrery_store::TemplateParts;
use serde::{Deserialize, Serialize};

use super::Admin;
use crate::http::{ApiContext, ApiError, Routes};
use crate::notify::templates::{self, TEMPLATES, Template};

/// Longest subject, in characters.
const MAX_SUBJECT_CHARS: usize = 300;
/// Longest text or HTML part, in characters.
const MAX_PART_CHARS: usize = 20_000;

pub(super) fn router() -> Routes {
    Routes::new()
        .add_admin(
            Method::GET,
            "/v1/admin/mail-templates",
            Action::EditMailTemplates,
            list,
        )
        .add_admin(
            Method::PUT,
            "/v1/admin/mail-templates/{key}",
            Action::EditMailTemplates,
            save,
        )
        .add_admin(
            Method::DELETE,
            "/v1/admin/mail-templates/{key}",
            Action::EditMailTemplates,
            reset,
        )
        .add_admin(
            Method::POST,
            "/v1/admin/mail-templates/{key}/preview",
            Action::EditMailTemplates,
            preview,
        )
}

/// One template as the management window shows it.
#[derive(Debug, Serialize)]
struct TemplateView {
    key: &'static str,
    /// The variables it may use.
    variables: &'static [&'static str],
    /// Whether an admin edited it.
    edited: bool,
    /// The parts in use.
    parts: TemplateParts,
    /// The parts it ships with.
    shipped: TemplateParts,
    /// When it was last edited.
    updated_at: Option<String>,
}

fn known(key: &str) -> Result<&'static Template, ApiError> {
    templates::template(key).ok_or_else(|| {
        let shown: String = key.chars().take(60).collect();
        ApiError::NotFound(format!("there is no email template `{shown}`"))
    })
}

/// The parts checked for size and against the template's variables.
fn checked(template: &Template, parts: &TemplateParts) -> Result<templates::Rendered, ApiError> {
    let too_long = |what: &str, text: &str, limit: usize| {
        (text.chars().count() > limit)
            .then(|| ApiError::Unprocessable(format!("the {what} is at most {limit} characters")))
    };
    if let Some(error) = too_long("subject", &parts.subject, MAX_SUBJECT_CHARS)
        .or_else(|| too_long("text", &parts.text, MAX_PART_CHARS))
        .or_else(|| too_long("HTML", &parts.html, MAX_PART_CHARS))
    {
        return Err(error);
    }
    if parts.subject.trim().is_empty() || parts.text.trim().is_empty() {
        return Err(ApiError::Unprocessable(
            "an email needs a subject and a text part".into(),
        ));
    }
    templates::check(template, parts).map_err(|error| ApiError::Unprocessable(error.to_string()))
}

async fn views(context: &ApiContext) -> Result<Vec<TemplateView>, ApiError> {
    let edited = context.store.edited_mail_templates().await?;
    Ok(TEMPLATES
        .iter()
        .map(|template| {
            let stored = edited.iter().find(|edit| edit.key == template.key);
            TemplateView {
                key: template.key,
                variables: template.variables,
                edited: stored.is_some(),
                parts: stored.map_or_else(|| template.shipped(), |edit| edit.parts.clone()),
                shipped: template.shipped(),
                updated_at: stored.map(|edit| edit.updated_at.clone()),
            }
        })
        .collect())
}

async fn list(
    State(context): State<ApiContext>,
    _admin: Admin,
) -> Result<Json<Vec<TemplateView>>, ApiError> {
    Ok(Json(views(&context).await?))
}

async fn view_of(context: &ApiContext, key: &str) -> Result<Json<TemplateView>, ApiError> {
    views(context)
        .await?
        .into_iter()
        .find(|view| view.key == key)
        .map(Json)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("template {key} vanished")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartsBody {
    subject: String,
    text: String,
    html: String,
}

impl From<PartsBody> for TemplateParts {
    fn from(body: PartsBody) -> Self {
        TemplateParts {
            subject: body.subject,
            text: body.text,
            html: body.html,
        }
    }
}

async fn save(
    State(context): State<ApiContext>,
    admin: Admin,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Path(key): Path<String>,
    body: Result<Json<PartsBody>, JsonRejection>,
) -> Result<Json<TemplateView>, ApiError> {
    let template = known(&key)?;
    let Json(body) = body?;
    let parts = TemplateParts::from(body);
    checked(template, &parts)?;
    context
        .store
        .put_mail_template_as_admin(
            template.key,
            Some(&parts),
            &admin.actor(peer),
            context.now(),
        )
        .await?;
    view_of(&context, template.key).await
}

async fn reset(
    State(context): State<ApiContext>,
    admin: Admin,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Path(key): Path<String>,
) -> Result<Json<TemplateView>, ApiError> {
    let template = known(&key)?;
    context
        .store
        .put_mail_template_as_admin(template.key, None, &admin.actor(peer), context.now())
        .await?;
    view_of(&context, template.key).await
}

#[derive(Debug, Serialize)]
struct Preview {
    subject: String,
    text: String,
    html: String,
}

async fn preview(
    State(_context): State<ApiContext>,
    _admin: Admin,
    Path(key): Path<String>,
    body: Result<Json<PartsBody>, JsonRejection>,
) -> Result<Json<Preview>, ApiError> {
    let template = known(&key)?;
    let Json(body) = body?;
    let rendered = checked(template, &TemplateParts::from(body))?;
    Ok(Json(Preview {
        subject: rendered.subject,
        text: rendered.text,
        html: rendered.html,
    }))
}
