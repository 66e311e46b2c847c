//! An app's own email templates and the language of invitations: Usher's own API, not part of
//! Base44's SDK (API key or admin).

use reqwest::Method;
use usher_api_types::{
    InviteUserRequest, InviteUserResponse, MailTemplate, MailTemplateBody, MailTemplateList, PreviewTemplateRequest,
    TemplatePreview,
};

use crate::{Client, ClientError, Invited, Role, Users, path_segment};

impl Users<'_> {
    /// [`Users::invite_user`] with the email in `locale` (`en`, `de`, `fr`, `es`, or a tag
    /// such as `de-AT`); the invitation's re-sends keep it. Usher only: the official SDK sends
    /// no locale, and its invitations are written in the app's default.
    ///
    /// ```no_run
    /// # async fn run(client: base44::Client) -> Result<(), base44::ClientError> {
    /// client.users().invite_user_in("jonas@example.de", base44::Role::User, "de").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn invite_user_in(&self, email: &str, role: Role, locale: &str) -> Result<Invited, ClientError> {
        let body = InviteUserRequest::new(email, role).in_locale(locale);
        let answer: InviteUserResponse =
            self.client.send(Method::POST, "runtime/users/invite-user", Some(&body)).await?;
        Invited::try_from(answer)
    }

    /// What [`Users::invite_user_in`] would do now (`?dry_run=true`), writing and sending
    /// nothing: an unsupported `locale` is refused (422 `UNSUPPORTED_LOCALE`) as the real call
    /// would be.
    pub async fn invite_user_dry_run_in(
        &self,
        email: &str,
        role: Role,
        locale: &str,
    ) -> Result<InviteUserResponse, ClientError> {
        let body = InviteUserRequest::new(email, role).in_locale(locale);
        self.client.send_query(Method::POST, "runtime/users/invite-user", &crate::dry_run(), Some(&body)).await
    }
}

/// An app's own email templates, per kind (`invitation`, `reminder`, `sign_in`,
/// `password_reset`, `signup_code`, `account_exists`) and locale (`en`, `de`, `fr`, `es`).
#[derive(Debug)]
pub struct Templates<'a> {
    pub(crate) client: &'a Client,
}

impl Client {
    /// The app's own email templates (API key or admin).
    pub fn templates(&self) -> Templates<'_> {
        Templates { client: self }
    }
}

fn template_path(kind: &str, locale: &str) -> Result<String, ClientError> {
    Ok(format!("templates/{}/{}", path_segment(kind)?, path_segment(locale)?))
}

impl Templates<'_> {
    /// Every kind in every locale, and which the app has its own template for.
    pub async fn list(&self) -> Result<MailTemplateList, ClientError> {
        self.client.send::<(), _>(Method::GET, "templates", None).await
    }

    /// The template delivery uses for `kind` in `locale`: the app's own, else the built-in.
    pub async fn get(&self, kind: &str, locale: &str) -> Result<MailTemplate, ClientError> {
        self.client.send::<(), _>(Method::GET, &template_path(kind, locale)?, None).await
    }

    /// Saves the app's own template; a template that would not render is refused with 422
    /// `INVALID_TEMPLATE` (the message says which part, line and variable) and not stored.
    ///
    /// ```no_run
    /// # async fn run(client: base44::Client) -> Result<(), base44::ClientError> {
    /// use base44::MailTemplateBody;
    /// let body = MailTemplateBody {
    ///     subject: "Willkommen bei {{ app_name }}".into(),
    ///     text: "Hallo! Hier geht es los: {{ link }}".into(),
    ///     html: "<p>Hallo! <a href=\"{{ link }}\">Los geht's</a></p>".into(),
    /// };
    /// client.templates().set("invitation", "de", &body).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn set(
        &self,
        kind: &str,
        locale: &str,
        template: &MailTemplateBody,
    ) -> Result<MailTemplate, ClientError> {
        self.client.send(Method::PUT, &template_path(kind, locale)?, Some(template)).await
    }

    /// Removes the app's own template; the answer is the built-in, used again.
    pub async fn remove(&self, kind: &str, locale: &str) -> Result<MailTemplate, ClientError> {
        self.client.send::<(), _>(Method::DELETE, &template_path(kind, locale)?, None).await
    }

    /// Renders with sample data: `draft` when given (checked as [`Templates::set`] checks it),
    /// else what delivery would use.
    pub async fn preview(
        &self,
        kind: &str,
        locale: &str,
        draft: Option<MailTemplateBody>,
    ) -> Result<TemplatePreview, ClientError> {
        let path = format!("{}/preview", template_path(kind, locale)?);
        self.client.send(Method::POST, &path, Some(&PreviewTemplateRequest { draft })).await
    }
}
