//! The account emails: one template per kind, each with a subject, a
//! plain-text part and an HTML part, rendered by minijinja. A template names
//! the variables it may use; rendering is strict, so a template that uses a
//! variable it was not given fails (and a template with a syntax error or
//! such a variable is refused when it is checked, before it is ever used).

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use orrery_store::TemplateParts;
use serde_json::{Value, json};

/// One kind of email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    /// Its key (what the outbox stores).
    pub key: &'static str,
    /// The variables it is given.
    pub variables: &'static [&'static str],
    /// Whether what it is given is a secret (cleared once sent).
    pub secret: bool,
    /// The subject line.
    pub subject: &'static str,
    /// The plain-text part.
    pub text: &'static str,
    /// The HTML part.
    pub html: &'static str,
}

/// Every template, as shipped.
pub const TEMPLATES: [Template; 9] = [
    Template {
        key: "welcome",
        variables: &["name"],
        secret: false,
        subject: "Welcome to Orrery",
        text: "Hello {{ name }},\n\nyour Orrery account is ready. Open the app, start from a template or a blank graph, and give your agents their first task.\n\nThe Orrery team\n",
        html: "<p>Hello {{ name }},</p><p>your Orrery account is ready. Open the app, start from a template or a blank graph, and give your agents their first task.</p><p>The Orrery team</p>",
    },
    Template {
        key: "trial_ending",
        variables: &["name", "plan", "days", "ends_on"],
        secret: false,
        subject: "Your {{ plan }} trial ends in {{ days }} day{% if days != 1 %}s{% endif %}",
        text: "Hello {{ name }},\n\nyour {{ plan }} trial ends on {{ ends_on }} (in {{ days }} day{% if days != 1 %}s{% endif %}). Add a payment method on the Billing screen to keep everything the plan includes.\n\nThe Orrery team\n",
        html: "<p>Hello {{ name }},</p><p>your {{ plan }} trial ends on <strong>{{ ends_on }}</strong> (in {{ days }} day{% if days != 1 %}s{% endif %}). Add a payment method on the Billing screen to keep everything the plan includes.</p><p>The Orrery team</p>",
    },
    Template {
        key: "trial_ended",
        variables: &["name", "plan"],
        secret: false,
        subject: "Your {{ plan }} trial has ended",
        text: "Hello {{ name }},\n\nyour {{ plan }} trial has ended. Your graphs and library stay as they are; choose a plan on the Billing screen to run within its limits again.\n\nThe Orrery team\n",
        html: "<p>Hello {{ name }},</p><p>your {{ plan }} trial has ended. Your graphs and library stay as they are; choose a plan on the Billing screen to run within its limits again.</p><p>The Orrery team</p>",
    },
    Template {
        key: "payment_succeeded",
        variables: &["name", "amount"],
        secret: false,
        subject: "Payment received: {{ amount }}",
        text: "Hello {{ name }},\n\nwe received your payment of {{ amount }}. Thank you. The invoice is on the Billing screen.\n\nThe Orrery team\n",
        html: "<p>Hello {{ name }},</p><p>we received your payment of <strong>{{ amount }}</strong>. Thank you. The invoice is on the Billing screen.</p><p>The Orrery team</p>",
    },
    Template {
        key: "payment_failed",
        variables: &["name", "amount"],
        secret: false,
        subject: "Your payment of {{ amount }} did not go through",
        text: "Hello {{ name }},\n\nyour payment of {{ amount }} failed. Update the payment method on the Billing screen; until then new runs are paused.\n\nThe Orrery team\n",
        html: "<p>Hello {{ name }},</p><p>your payment of <strong>{{ amount }}</strong> failed. Update the payment method on the Billing screen; until then new runs are paused.</p><p>The Orrery team</p>",
    },
    Template {
        key: "plan_changed",
        variables: &["name", "plan"],
        secret: false,
        subject: "You are now on the {{ plan }} plan",
        text: "Hello {{ name }},\n\nyour account is now on the {{ plan }} plan. The Billing screen shows what it includes.\n\nThe Orrery team\n",
        html: "<p>Hello {{ name }},</p><p>your account is now on the <strong>{{ plan }}</strong> plan. The Billing screen shows what it includes.</p><p>The Orrery team</p>",
    },
    Template {
        key: "purchase_refunded",
        variables: &["name", "title", "amount"],
        secret: false,
        subject: "Refunded: {{ title }}",
        text: "Hello {{ name }},\n\nyour purchase of {{ title }} was refunded: {{ amount }} goes back to your card. The item has left your library on every device.\n\nThe Orrery team\n",
        html: "<p>Hello {{ name }},</p><p>your purchase of <strong>{{ title }}</strong> was refunded: <strong>{{ amount }}</strong> goes back to your card. The item has left your library on every device.</p><p>The Orrery team</p>",
    },
    Template {
        key: "password_reset",
        variables: &["name", "code", "minutes"],
        secret: true,
        subject: "Reset your Orrery password",
        text: "Hello {{ name }},\n\nsomeone (hopefully you) asked to reset the password of your Orrery account. Paste this code into Orrery's \"Reset password\" screen within {{ minutes }} minutes:\n\n    {{ code }}\n\nThe code works once. If you did not ask for this, ignore this message; your password stays as it is.\n",
        html: "<p>Hello {{ name }},</p><p>someone (hopefully you) asked to reset the password of your Orrery account. Paste this code into Orrery's \"Reset password\" screen within {{ minutes }} minutes:</p><p><code>{{ code }}</code></p><p>The code works once. If you did not ask for this, ignore this message; your password stays as it is.</p>",
    },
    Template {
        key: "team_invitation",
        variables: &["inviter", "team", "role", "link", "code", "days"],
        secret: true,
        subject: "{{ inviter }} invited you to {{ team }} on Orrery",
        text: "Hello,\n\n{{ inviter }} invited you to join the team {{ team }} on Orrery as {{ role }}. Open this link on a computer with Orrery installed to join:\n\n    {{ link }}\n\nOr paste this code into Orrery's \"Join a team\" box:\n\n    {{ code }}\n\nThe invitation works once, for this address, within {{ days }} days. If you do not know {{ inviter }}, ignore this message.\n",
        html: "<p>Hello,</p><p>{{ inviter }} invited you to join the team <strong>{{ team }}</strong> on Orrery as {{ role }}.</p><p><a href=\"{{ link }}\">Join {{ team }} in Orrery</a></p><p>Or paste this code into Orrery's \"Join a team\" box:</p><p><code>{{ code }}</code></p><p>The invitation works once, for this address, within {{ days }} days. If you do not know {{ inviter }}, ignore this message.</p>",
    },
];

/// The template with this key.
pub fn template(key: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|template| template.key == key)
}

impl Template {
    /// The parts it ships with.
    pub fn shipped(&self) -> TemplateParts {
        TemplateParts {
            subject: self.subject.to_owned(),
            text: self.text.to_owned(),
            html: self.html.to_owned(),
        }
    }
}

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The subject line (one line).
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}

/// Why a template could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// No template has this key.
    #[error("there is no email template `{0}`")]
    Unknown(String),
    /// The template does not parse, or uses a variable it is not given.
    #[error("the {part} of `{key}` cannot be used: {reason}")]
    Invalid {
        /// The template.
        key: String,
        /// Subject, text or HTML.
        part: &'static str,
        /// What minijinja said.
        reason: String,
    },
}

fn environment() -> Environment<'static> {
    let mut environment = Environment::new();
    // A variable the template was not given is an error, not an empty string.
    environment.set_undefined_behavior(UndefinedBehavior::Strict);
    environment.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    environment
}

/// Renders `parts` of `template` with `data` (an object with each of its
/// variables).
pub fn render(
    template: &Template,
    parts: &TemplateParts,
    data: &Value,
) -> Result<Rendered, TemplateError> {
    let environment = environment();
    let part = |part: &'static str, name: &str, source: &str| {
        environment
            .render_named_str(name, source, minijinja::value::Serde(data))
            .map_err(|error| TemplateError::Invalid {
                key: template.key.to_owned(),
                part,
                reason: error.to_string(),
            })
    };
    let subject = part("subject", "subject.txt", &parts.subject)?;
    Ok(Rendered {
        // A subject is one line, whatever the data held.
        subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
        text: part("text", "text.txt", &parts.text)?,
        html: part("HTML", "body.html", &parts.html)?,
    })
}

/// Sample values for a template's variables (what a check renders with).
fn sample(template: &Template) -> Value {
    let mut values = serde_json::Map::new();
    for variable in template.variables {
        let value = match *variable {
            "days" | "minutes" => json!(3),
            other => json!(format!("<{other}>")),
        };
        values.insert((*variable).to_owned(), value);
    }
    Value::Object(values)
}

/// Checks `parts` of `template`: each parses and renders with the
/// template's variables, and uses no other; answers them rendered with
/// sample values (a preview).
pub fn check(template: &Template, parts: &TemplateParts) -> Result<Rendered, TemplateError> {
    let environment = environment();
    for (part, name, source) in [
        ("subject", "subject.txt", &parts.subject),
        ("text", "text.txt", &parts.text),
        ("HTML", "body.html", &parts.html),
    ] {
        let invalid = |reason: String| TemplateError::Invalid {
            key: template.key.to_owned(),
            part,
            reason,
        };
        let parsed = environment
            .template_from_named_str(name, source)
            .map_err(|error| invalid(error.to_string()))?;
        let mut unknown: Vec<String> = parsed
            .undeclared_variables(false)
            .into_iter()
            .filter(|variable| !template.variables.contains(&variable.as_str()))
            .collect();
        unknown.sort();
        if !unknown.is_empty() {
            return Err(invalid(format!(
                "it uses {}, which this email is not given (it has {})",
                unknown
                    .iter()
                    .map(|variable| format!("`{variable}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                template
                    .variables
                    .iter()
                    .map(|variable| format!("`{variable}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    render(template, parts, &sample(template))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_template_renders_with_its_variables() {
        for template in &TEMPLATES {
            let rendered =
                check(template, &template.shipped()).unwrap_or_else(|error| panic!("{error}"));
            assert!(!rendered.subject.is_empty() && !rendered.subject.contains('\n'));
            assert!(!rendered.text.is_empty() && !rendered.html.is_empty());
        }
        let ending_template = template("trial_ending").unwrap();
        let ending = render(
            ending_template,
            &ending_template.shipped(),
            &json!({ "name": "Ada", "plan": "Pro", "days": 1, "ends_on": "2026-12-09" }),
        )
        .unwrap();
        assert_eq!(ending.subject, "Your Pro trial ends in 1 day");
    }

    #[test]
    fn html_is_escaped_and_bad_templates_are_refused() {
        let shipped = template("welcome").unwrap();
        let welcome = render(
            shipped,
            &shipped.shipped(),
            &json!({ "name": "<b>Eve</b>" }),
        )
        .unwrap();
        assert!(
            welcome.html.contains("&lt;b&gt;Eve&lt;&#x2f;b&gt;"),
            "{}",
            welcome.html
        );
        assert!(welcome.text.contains("<b>Eve</b>"));
        let broken = TemplateParts {
            text: "Hello {{ name".into(),
            ..shipped.shipped()
        };
        assert!(matches!(
            check(shipped, &broken),
            Err(TemplateError::Invalid { part: "text", .. })
        ));
        let missing = TemplateParts {
            subject: "Hi {{ nickname }}".into(),
            ..shipped.shipped()
        };
        assert!(matches!(
            check(shipped, &missing),
            Err(TemplateError::Invalid {
                part: "subject",
                ..
            })
        ));
    }
}
