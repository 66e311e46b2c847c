//! The email templates: the built-in ones (every kind in every [`Locale`], embedded from
//! `templates/{locale}/{kind}.{subject,txt,html}`) and an app's own, which are checked here
//! before they are stored so that a stored template always renders.
//!
//! Which one a message uses: the app's own for its kind and locale, else the built-in of that
//! locale, else the English built-in (a kind not translated yet).

use std::collections::BTreeSet;

use minijinja::{Environment, UndefinedBehavior, Value};
use usher_core::model::MailKind;
use usher_core::{Locale, Role, Timestamp};

include!(concat!(env!("OUT_DIR"), "/builtin_templates.rs"));

/// The parts of an email, as template names end: subject line, plain text, HTML.
pub const PARTS: [Part; 3] = [Part::Subject, Part::Text, Part::Html];

/// One part of an email.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The subject line (one line; not escaped).
    Subject,
    /// The plain-text body (not escaped).
    Text,
    /// The HTML body (every value auto-escaped).
    Html,
}

impl Part {
    /// Its name in messages and JSON: `subject`, `text`, `html`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Subject => "subject",
            Self::Text => "text",
            Self::Html => "html",
        }
    }

    /// The template name's extension, which also picks the escaping.
    pub(crate) const fn extension(self) -> &'static str {
        match self {
            Self::Subject => "subject",
            Self::Text => "txt",
            Self::Html => "html",
        }
    }
}

/// Largest template accepted, per part.
pub const MAX_TEMPLATE_BYTES: usize = 100 * 1024;
/// Work a template may do per render (minijinja instructions): far more than any email needs,
/// and a bound on what a template written to loop for ever can cost the delivery worker.
const FUEL: u64 = 200_000;

/// The variables a template of `kind` may use (the built-ins use the same).
pub fn variables(kind: MailKind) -> &'static [&'static str] {
    const COMMON: &[&str] = &["app_name", "app_url", "inviter_name", "role", "role_phrase"];
    match kind {
        MailKind::Invitation | MailKind::Reminder | MailKind::PasswordReset => {
            &["app_name", "app_url", "inviter_name", "role", "role_phrase", "link", "expires_at"]
        }
        MailKind::SignupCode => &["app_name", "app_url", "inviter_name", "role", "role_phrase", "code", "expires_at"],
        MailKind::SignIn | MailKind::AccountExists => COMMON,
    }
}

/// The variable the text and HTML of `kind` must both show: the link (or code) the email is
/// for; an email without it would be useless.
pub fn required_variable(kind: MailKind) -> Option<&'static str> {
    match kind {
        MailKind::Invitation | MailKind::Reminder | MailKind::PasswordReset => Some("link"),
        MailKind::SignupCode => Some("code"),
        MailKind::SignIn | MailKind::AccountExists => None,
    }
}

/// Every kind of email, in the order lists show them.
pub const KINDS: [MailKind; 6] = [
    MailKind::Invitation,
    MailKind::Reminder,
    MailKind::SignIn,
    MailKind::PasswordReset,
    MailKind::SignupCode,
    MailKind::AccountExists,
];

/// The source of the built-in `part` of `kind` in `locale`, falling back to English; `None`
/// only for a kind with no English template.
pub fn builtin(kind: MailKind, locale: Locale, part: Part) -> Option<&'static str> {
    let find = |locale: Locale| {
        let name = builtin_name(kind, locale, part);
        BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, source)| *source)
    };
    find(locale).or_else(|| find(Locale::En))
}

/// The name the renderer's environment knows the built-in by.
pub(crate) fn builtin_name(kind: MailKind, locale: Locale, part: Part) -> String {
    format!("{locale}/{}.{}", kind.as_str(), part.extension())
}

/// A new environment with every built-in template and the rendering settings every email
/// uses (HTML auto-escaped by the `.html` extension, a bounded amount of work).
pub(crate) fn environment() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = base_environment();
    for (name, source) in BUILTIN {
        env.add_template(name, source)?;
    }
    Ok(env)
}

fn base_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    env
}

/// An environment holding only an app's own template (`own.subject`, `own.txt`, `own.html`).
pub(crate) fn own_environment(subject: &str, text: &str, html: &str) -> Result<Environment<'static>, minijinja::Error> {
    let mut env = base_environment();
    env.add_template_owned("own.subject".to_owned(), subject.to_owned())?;
    env.add_template_owned("own.txt".to_owned(), text.to_owned())?;
    env.add_template_owned("own.html".to_owned(), html.to_owned())?;
    Ok(env)
}

/// The role as emails of `locale` phrase it where a template writes "as {{ role_phrase }}".
pub fn role_phrase(role: Role, locale: Locale) -> &'static str {
    match (locale, role) {
        (Locale::En, Role::User) => "a user",
        (Locale::En, Role::Admin) => "an admin",
        (Locale::De, Role::User) => "Nutzer",
        (Locale::De, Role::Admin) => "Administrator",
        (Locale::Fr, Role::User) => "utilisateur",
        (Locale::Fr, Role::Admin) => "administrateur",
        (Locale::Es, Role::User) => "usuario",
        (Locale::Es, Role::Admin) => "administrador",
    }
}

/// `t` as a date and time in the words of `locale`, e.g. `15 January 2027, 08:00 UTC`,
/// `15. Januar 2027 um 08:00 UTC`.
pub fn human_time(t: Timestamp, locale: Locale) -> String {
    const MONTHS: [[&str; 12]; 4] = [
        [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ],
        [
            "Januar",
            "Februar",
            "März",
            "April",
            "Mai",
            "Juni",
            "Juli",
            "August",
            "September",
            "Oktober",
            "November",
            "Dezember",
        ],
        [
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
        ],
        [
            "enero",
            "febrero",
            "marzo",
            "abril",
            "mayo",
            "junio",
            "julio",
            "agosto",
            "septiembre",
            "octubre",
            "noviembre",
            "diciembre",
        ],
    ];
    let at = t.to_offset_date_time();
    let (day, year, time) = (at.day(), at.year(), format!("{:02}:{:02} UTC", at.hour(), at.minute()));
    let month = |locale: Locale| MONTHS[locale as usize][usize::from(u8::from(at.month())) - 1];
    match locale {
        Locale::En => format!("{day} {} {year}, {time}", month(locale)),
        Locale::De => format!("{day}. {} {year} um {time}", month(locale)),
        Locale::Fr => format!("{day} {} {year} à {time}", month(locale)),
        Locale::Es => format!("{day} de {} de {year} a las {time}", month(locale)),
    }
}

/// An app's own template, as sent to be saved or previewed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draft<'a> {
    /// The subject line's template.
    pub subject: &'a str,
    /// The plain-text part's template.
    pub text: &'a str,
    /// The HTML part's template.
    pub html: &'a str,
}

/// Why a template cannot be saved; says which part and what, for people.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{part}: {problem}")]
pub struct TemplateProblem {
    /// `subject`, `text` or `html`.
    pub part: &'static str,
    /// What is wrong, with the line where there is one.
    pub problem: String,
}

/// Checks an app's own template of `kind` before it is stored: each part must be valid
/// minijinja, use only the kind's variables, the text and HTML must show the kind's required
/// variable (the join link of an invitation), and a render with sample data must succeed and
/// give a non-empty one-line subject. What passes renders at delivery as it did here.
pub fn check(kind: MailKind, draft: &Draft<'_>) -> Result<(), TemplateProblem> {
    let known = variables(kind);
    let sources = [(Part::Subject, draft.subject), (Part::Text, draft.text), (Part::Html, draft.html)];
    for (part, source) in sources {
        let problem = |problem: String| TemplateProblem { part: part.name(), problem };
        if source.len() > MAX_TEMPLATE_BYTES {
            return Err(problem(format!("is longer than {MAX_TEMPLATE_BYTES} bytes")));
        }
        if part != Part::Subject && source.trim().is_empty() {
            return Err(problem("is empty".into()));
        }
        let mut env = base_environment();
        env.add_template("part", source).map_err(|e| problem(describe(&e)))?;
        let template = env.get_template("part").map_err(|e| problem(describe(&e)))?;
        let used = template.undeclared_variables(false);
        let globals: BTreeSet<&str> = env.globals().map(|(name, _)| name).collect();
        let mut unknown: Vec<&String> =
            used.iter().filter(|v| !known.contains(&v.as_str()) && !globals.contains(v.as_str())).collect();
        unknown.sort();
        if let Some(name) = unknown.first() {
            let line = line_of(source, name).map(|n| format!(" (line {n})")).unwrap_or_default();
            return Err(problem(format!(
                "unknown variable `{name}`{line}; a {} template may use: {}",
                kind.as_str(),
                known.join(", ")
            )));
        }
        if part != Part::Subject
            && let Some(required) = required_variable(kind)
            && !used.contains(required)
        {
            return Err(problem(format!(
                "must show `{{{{ {required} }}}}`: a {} email is useless without it",
                kind.as_str()
            )));
        }
    }
    let env = own_environment(draft.subject, draft.text, draft.html)
        .map_err(|e| TemplateProblem { part: "template", problem: describe(&e) })?;
    let mut env = env;
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    for (role, inviter) in [(Role::User, "Grace Hopper"), (Role::Admin, SAMPLE_APP)] {
        let ctx = sample_context(kind, Locale::En, role, inviter);
        for part in PARTS {
            let problem = |problem: String| TemplateProblem { part: part.name(), problem };
            let rendered = env
                .get_template(&format!("own.{}", part.extension()))
                .and_then(|t| t.render(&ctx))
                .map_err(|e| problem(describe(&e)))?;
            if part == Part::Subject && rendered.trim().is_empty() {
                return Err(problem("renders empty".into()));
            }
        }
    }
    Ok(())
}

/// The app name in sample data when none is given.
const SAMPLE_APP: &str = "Acme";

/// Sample values of every variable of `kind`, for checks and previews.
fn sample_context(kind: MailKind, locale: Locale, role: Role, inviter: &str) -> Value {
    sample(
        kind,
        locale,
        role,
        SAMPLE_APP,
        "https://app.example.com/",
        inviter,
        "https://usher.example.com/join?token=sample",
    )
}

/// The values of `kind`'s variables for a preview: the app's real name and URL, the rest made
/// up.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sample(
    kind: MailKind,
    locale: Locale,
    role: Role,
    app_name: &str,
    app_url: &str,
    inviter_name: &str,
    link: &str,
) -> Value {
    let expires_at = human_time(Timestamp::from_millis(1_800_000_000_000), locale);
    let mut values: Vec<(&str, Value)> = vec![
        ("app_name", app_name.into()),
        ("app_url", app_url.into()),
        ("inviter_name", inviter_name.into()),
        ("role", role.as_str().into()),
        ("role_phrase", role_phrase(role, locale).into()),
    ];
    for name in variables(kind) {
        match *name {
            "link" => values.push(("link", link.into())),
            "expires_at" => values.push(("expires_at", expires_at.clone().into())),
            "code" => values.push(("code", "428913".into())),
            _ => {}
        }
    }
    values.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<std::collections::BTreeMap<_, _>>().into()
}

/// A minijinja error for people: what went wrong and on which line.
fn describe(err: &minijinja::Error) -> String {
    let detail = err.detail().map_or_else(|| err.kind().to_string(), str::to_owned);
    match err.line() {
        Some(line) => format!("{detail} (line {line})"),
        None => detail,
    }
}

/// The first line (from 1) on which `name` appears.
fn line_of(source: &str, name: &str) -> Option<usize> {
    source.lines().position(|line| line.contains(name)).map(|n| n + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft<'a>(subject: &'a str, text: &'a str, html: &'a str) -> Draft<'a> {
        Draft { subject, text, html }
    }

    #[test]
    fn every_builtin_passes_the_checks_an_app_template_must() {
        for kind in KINDS {
            for locale in Locale::ALL {
                let source = |part| builtin(kind, locale, part).expect("built-in");
                let own = draft(source(Part::Subject), source(Part::Text), source(Part::Html));
                assert_eq!(check(kind, &own), Ok(()), "{kind:?} {locale}");
            }
        }
    }

    #[test]
    fn every_kind_has_its_own_template_in_every_locale() {
        for kind in KINDS {
            for locale in Locale::ALL {
                for part in PARTS {
                    let name = builtin_name(kind, locale, part);
                    assert!(BUILTIN.iter().any(|(n, _)| *n == name), "missing {name}");
                }
            }
        }
    }

    #[test]
    fn broken_templates_are_refused_with_the_part_and_what_is_wrong() {
        let ok_html = "<p>{{ link }}</p>";
        let cases: &[(&str, Draft<'_>, &str, &str)] = &[
            ("syntax", draft("Hi", "Hello\n{% if %}\n{{ link }}", ok_html), "text", "line 2"),
            ("unclosed", draft("Hi {{ app_name", "{{ link }}", ok_html), "subject", "line 1"),
            ("unknown variable", draft("Hi", "{{ link }}\n{{ first_name }}", ok_html), "text", "`first_name` (line 2)"),
            ("unknown in html", draft("Hi", "{{ link }}", "{{ link }}{{ token }}"), "html", "`token`"),
            ("no link in text", draft("Hi", "Welcome to {{ app_name }}", ok_html), "text", "`{{ link }}`"),
            ("no link in html", draft("Hi", "{{ link }}", "<p>Welcome</p>"), "html", "`{{ link }}`"),
            ("unknown filter", draft("Hi {{ app_name|shout }}", "{{ link }}", ok_html), "subject", "shout"),
            ("empty subject", draft("{% if false %}x{% endif %}", "{{ link }}", ok_html), "subject", "empty"),
            ("empty text", draft("Hi", "  ", ok_html), "text", "empty"),
            (
                "endless",
                draft(
                    "Hi",
                    "{{ link }}{% for a in range(10000) %}{% for b in range(10000) %}.{% endfor %}{% endfor %}",
                    ok_html,
                ),
                "text",
                "fuel",
            ),
        ];
        for (what, d, part, says) in cases {
            let err = check(MailKind::Invitation, d).expect_err(what);
            assert_eq!(err.part, *part, "{what}: {err}");
            assert!(err.problem.contains(says), "{what}: {err}");
        }
    }

    #[test]
    fn a_kind_without_a_link_needs_none_and_may_branch_on_role() {
        let d = draft(
            "Sign in to {{ app_name }}",
            "{% if role == 'admin' %}Admin{% endif %} {{ app_url }}",
            "<a href=\"{{ app_url }}\">go</a>",
        );
        assert_eq!(check(MailKind::SignIn, &d), Ok(()));
        let d = draft("{{ code }}", "{{ link }}", "{{ code }}");
        assert!(check(MailKind::SignupCode, &d).expect_err("no link in a code email").problem.contains("`link`"));
    }

    #[test]
    fn dates_read_in_the_words_of_each_locale() {
        let t = Timestamp::from_millis(1_800_000_000_000); // 2027-01-15T08:00:00Z
        assert_eq!(human_time(t, Locale::En), "15 January 2027, 08:00 UTC");
        assert_eq!(human_time(t, Locale::De), "15. Januar 2027 um 08:00 UTC");
        assert_eq!(human_time(t, Locale::Fr), "15 janvier 2027 à 08:00 UTC");
        assert_eq!(human_time(t, Locale::Es), "15 de enero de 2027 a las 08:00 UTC");
    }
}
