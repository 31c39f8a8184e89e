//! Adding a template to the library: its graph, and the agents and prompts
//! its nodes name. An agent or prompt the library already has by that name
//! stays as the user made it (the new graph's nodes then run it); the others
//! are added, each prompt with its published version.

use orrery_domain::templates::{Template, template};
use orrery_domain::{DocumentKind, Graph};
use orrery_sync::Replica;

use crate::{SessionError, key};

/// Adds the template `key` (built with `at`, RFC 3339, as its prompts'
/// publication time) and returns its new graph.
pub async fn add_template(
    replica: &Replica,
    key_of_template: &str,
    at: &str,
) -> Result<Graph, SessionError> {
    let Some(template) = template(key_of_template, at) else {
        return Err(SessionError::NoSuchTemplate(
            key_of_template.chars().take(64).collect(),
        ));
    };
    add(replica, template).await
}

async fn add(replica: &Replica, template: Template) -> Result<Graph, SessionError> {
    let names = |kind| async move {
        Ok::<_, SessionError>(
            replica
                .list_documents(kind)
                .await?
                .into_iter()
                .map(|item| key(&item.title))
                .collect::<std::collections::BTreeSet<_>>(),
        )
    };
    let agents = names(DocumentKind::Agent).await?;
    for agent in &template.agents {
        if !agents.contains(&key(&agent.name)) {
            replica.save_agent(agent).await?;
        }
    }
    let prompts = names(DocumentKind::Prompt).await?;
    for prompt in &template.prompts {
        if !prompts.contains(&key(&prompt.title)) {
            replica.save_prompt(prompt).await?;
        }
    }
    Ok(replica.add_graph(template.graph).await?)
}
