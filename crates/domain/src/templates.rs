//! Templates: small teams a new user starts from. Each is a graph with named
//! nodes laid out left to right, the library agents its agent nodes name
//! (each with a system prompt that says its job), and the library prompts
//! its prompt nodes name (one published version, with checks on answers
//! where the answer has a shape). Built fresh each time: new ids, so one
//! template can be used many times.

use crate::graph::{Edge, Graph, Node, NodeKind, Position};
use crate::library::{Agent, Prompt, PromptVersion, VersionStatus};
use crate::validator::{PromptValidator, Validator};

/// One template, ready to be added to a library.
#[derive(Debug, Clone)]
pub struct Template {
    /// Stable key the screens and commands name it by.
    pub key: &'static str,
    /// Its title in the gallery (the graph's name).
    pub title: &'static str,
    /// One sentence on what it does.
    pub summary: &'static str,
    /// The graph.
    pub graph: Graph,
    /// The library agents the graph's agent nodes name.
    pub agents: Vec<Agent>,
    /// The library prompts the graph's prompt nodes name.
    pub prompts: Vec<Prompt>,
}

/// What the gallery shows of a template before it is used.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct TemplateCard {
    /// Stable key.
    pub key: &'static str,
    /// Title.
    pub title: &'static str,
    /// What it does.
    pub summary: &'static str,
    /// Its agents' names, in the order they work.
    pub agents: Vec<String>,
    /// Its graph as the gallery draws it.
    pub preview: TemplatePreview,
}

/// A template's graph in the plane it is laid out in, for a preview.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct TemplatePreview {
    /// Every node: where it sits (x to the right, y up), its kind and label.
    pub nodes: Vec<PreviewNode>,
    /// Every edge, as indices into `nodes`.
    pub edges: Vec<(usize, usize)>,
}

/// One node of a [`TemplatePreview`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PreviewNode {
    /// Across.
    pub x: f32,
    /// Up.
    pub y: f32,
    /// Its kind (`agent`, `prompt`, …).
    pub kind: &'static str,
    /// Its label.
    pub label: String,
}

impl Template {
    /// The gallery card.
    pub fn card(&self) -> TemplateCard {
        let mut agents: Vec<&Node> = self
            .graph
            .nodes
            .values()
            .filter(|node| node.kind == NodeKind::Agent)
            .collect();
        agents.sort_by(|a, b| {
            a.position
                .x
                .total_cmp(&b.position.x)
                .then(b.position.y.total_cmp(&a.position.y))
        });
        TemplateCard {
            key: self.key,
            title: self.title,
            summary: self.summary,
            agents: agents.iter().map(|node| node.label.clone()).collect(),
            preview: self.preview(),
        }
    }

    fn preview(&self) -> TemplatePreview {
        let nodes: Vec<&Node> = self.graph.nodes.values().collect();
        let index = |id| nodes.iter().position(|node| node.id == id);
        TemplatePreview {
            nodes: nodes
                .iter()
                .map(|node| PreviewNode {
                    x: node.position.x,
                    y: node.position.y,
                    kind: node.kind.as_str(),
                    label: node.label.clone(),
                })
                .collect(),
            edges: self
                .graph
                .edges
                .values()
                .filter_map(|edge| Some((index(edge.from)?, index(edge.to)?)))
                .collect(),
        }
    }
}

/// Every template's key, in gallery order.
pub const TEMPLATE_KEYS: [&str; 4] = [
    "research-team",
    "support-triage",
    "code-review",
    "document-extraction",
];

/// Every template, built with `at` (RFC 3339) as its prompts' publication time.
pub fn templates(at: &str) -> Vec<Template> {
    TEMPLATE_KEYS
        .iter()
        .filter_map(|key| template(key, at))
        .collect()
}

/// The template `key`, built with `at` (RFC 3339) as its prompts' publication time.
pub fn template(key: &str, at: &str) -> Option<Template> {
    Some(match key {
        "research-team" => research_team(at),
        "support-triage" => support_triage(at),
        "code-review" => code_review(at),
        "document-extraction" => document_extraction(at),
        _ => return None,
    })
}

/// Columns and rows of the left-to-right layout, in world units.
const COLUMN: f32 = 4.5;
const ROW: f32 = 2.5;

/// Builds a graph from nodes placed on a grid (column, row) and edges between
/// them by label, each through the first ports that fit.
struct Layout {
    graph: Graph,
}

impl Layout {
    fn new(name: &str) -> Self {
        Self {
            graph: Graph::new(name),
        }
    }

    fn node(&mut self, kind: NodeKind, label: &str, column: f32, row: f32) -> &mut Self {
        self.graph.add_node(Node::new(
            kind,
            label,
            Position::new(column * COLUMN, -row * ROW, 0.0),
        ));
        self
    }

    fn edge(&mut self, from: &str, to: &str) -> &mut Self {
        let find = |label: &str| {
            self.graph
                .nodes
                .values()
                .find(|node| node.label == label)
                .unwrap_or_else(|| panic!("template node {label}"))
                .clone()
        };
        let (from, to) = (find(from), find(to));
        let from_port = crate::ports::output_ports(from.kind)[0].name;
        let to_port = crate::ports::matching_input(from.kind, from_port, to.kind)
            .unwrap_or_else(|| panic!("{} cannot feed {}", from.label, to.label))
            .name;
        let mut edge = Edge::new(from.id, to.id);
        edge.from_port = from_port.to_owned();
        edge.to_port = to_port.to_owned();
        self.graph
            .add_edge(edge)
            .expect("template edges join template nodes");
        self
    }
}

fn agent(name: &str, description: &str, system_prompt: &str) -> Agent {
    let mut agent = Agent::new(name);
    agent.description = description.to_owned();
    agent.system_prompt = system_prompt.to_owned();
    agent
}

fn prompt(
    title: &str,
    description: &str,
    content: &str,
    at: &str,
    checks: Vec<Validator>,
) -> Prompt {
    let mut prompt = Prompt::new(title);
    prompt.project = "Templates".to_owned();
    prompt.description = description.to_owned();
    let mut version = PromptVersion::draft(content, at);
    version.status = VersionStatus::Active;
    version.activated_at = Some(at.to_owned());
    prompt.versions.push(version);
    prompt.validators = checks.into_iter().map(PromptValidator::on_output).collect();
    prompt
}

fn research_team(at: &str) -> Template {
    let mut layout = Layout::new("Research team");
    layout
        .node(NodeKind::Input, "Question", 0.0, 0.0)
        .node(NodeKind::Prompt, "Research brief", 1.0, 0.0)
        .node(NodeKind::Agent, "Researcher", 2.0, 0.0)
        .node(NodeKind::Agent, "Writer", 3.0, 0.0)
        .node(NodeKind::Agent, "Critic", 4.0, 0.0)
        .node(NodeKind::Output, "Report", 5.0, 0.0)
        .edge("Question", "Research brief")
        .edge("Research brief", "Researcher")
        .edge("Researcher", "Writer")
        .edge("Writer", "Critic")
        .edge("Critic", "Report");
    Template {
        key: "research-team",
        title: "Research team",
        summary: "The manager plans; a researcher gathers facts, a writer drafts a short report and a critic checks it against the facts.",
        graph: layout.graph,
        agents: vec![
            agent(
                "Researcher",
                "Gathers the facts a question needs, with where each comes from.",
                "You are a careful researcher. List the facts that answer the question as short \
                 bullet points. Mark anything you are unsure of as uncertain, and never invent \
                 a source.",
            ),
            agent(
                "Writer",
                "Turns research notes into a short, readable report.",
                "You are a clear technical writer. Using only the research you are given, write \
                 a report of at most three short paragraphs with a one-line summary first. Do \
                 not add facts that are not in the research.",
            ),
            agent(
                "Critic",
                "Checks a draft against the research and fixes what is wrong.",
                "You are a critic. Compare the draft with the research. Fix claims the research \
                 does not support, cut repetition, and return the corrected report followed by \
                 a list of what you changed.",
            ),
        ],
        prompts: vec![prompt(
            "Research brief",
            "What the researcher is asked to find out.",
            "Research this question for the team: {{task}}\n\nGive the key facts, the open \
             questions, and what a reader would need to know first.",
            at,
            vec![Validator::Length {
                min: Some(1),
                max: Some(8_000),
            }],
        )],
    }
}

fn support_triage(at: &str) -> Template {
    let mut layout = Layout::new("Support triage");
    layout
        .node(NodeKind::Input, "Customer message", 0.0, 0.0)
        .node(NodeKind::Prompt, "Triage ticket", 1.0, 0.0)
        .node(NodeKind::Agent, "Triage agent", 2.0, 0.0)
        .node(NodeKind::Agent, "Reply writer", 3.0, 0.0)
        .node(NodeKind::Output, "Ticket", 4.0, 0.0)
        .edge("Customer message", "Triage ticket")
        .edge("Triage ticket", "Triage agent")
        .edge("Triage agent", "Reply writer")
        .edge("Reply writer", "Ticket");
    let schema = serde_json::json!({
        "type": "object",
        "required": ["category", "priority", "summary"],
        "properties": {
            "category": { "enum": ["billing", "bug", "account", "question", "other"] },
            "priority": { "enum": ["low", "normal", "high", "urgent"] },
            "summary": { "type": "string", "minLength": 1, "maxLength": 280 }
        }
    });
    Template {
        key: "support-triage",
        title: "Support triage",
        summary: "Sorts a customer's message into a category and priority as checked JSON, then drafts a friendly reply.",
        graph: layout.graph,
        agents: vec![
            agent(
                "Triage agent",
                "Reads a support message and classifies it.",
                "You triage customer support messages. Answer with JSON only, no prose.",
            ),
            agent(
                "Reply writer",
                "Drafts the reply a support agent sends.",
                "You write replies to customers: warm, short, and specific to their message. \
                 Use the triage you are given to set the tone and say what happens next. Never \
                 promise refunds or dates.",
            ),
        ],
        prompts: vec![prompt(
            "Triage ticket",
            "Classifies a message; the answer must be JSON the schema accepts.",
            "Classify this customer message: {{task}}\n\nAnswer with one JSON object: \
             {\"category\": \"billing\" | \"bug\" | \"account\" | \"question\" | \"other\", \
             \"priority\": \"low\" | \"normal\" | \"high\" | \"urgent\", \"summary\": one \
             sentence}.",
            at,
            vec![Validator::JsonSchema { schema }],
        )],
    }
}

fn code_review(at: &str) -> Template {
    let mut layout = Layout::new("Code review crew");
    layout
        .node(NodeKind::Input, "Pull request", 0.0, 0.0)
        .node(NodeKind::Prompt, "Review checklist", 1.0, 0.0)
        .node(NodeKind::Agent, "Security reviewer", 2.0, 0.5)
        .node(NodeKind::Agent, "Correctness reviewer", 2.0, -0.5)
        .node(NodeKind::Agent, "Review lead", 3.0, 0.0)
        .node(NodeKind::Output, "Review", 4.0, 0.0)
        .edge("Pull request", "Review checklist")
        .edge("Review checklist", "Security reviewer")
        .edge("Review checklist", "Correctness reviewer")
        .edge("Security reviewer", "Review lead")
        .edge("Correctness reviewer", "Review lead")
        .edge("Review lead", "Review");
    Template {
        key: "code-review",
        title: "Code review crew",
        summary: "Two reviewers read a change for security and correctness side by side; a lead merges their notes into one review.",
        graph: layout.graph,
        agents: vec![
            agent(
                "Security reviewer",
                "Looks for ways a change can be abused.",
                "You review code for security: injection, unchecked input, secrets, unsafe \
                 defaults, missing authorisation. Quote the line, say the risk, suggest the fix.",
            ),
            agent(
                "Correctness reviewer",
                "Looks for bugs and missing tests.",
                "You review code for correctness: logic errors, edge cases, error handling, \
                 concurrency and missing tests. Quote the line, say what breaks, suggest the fix.",
            ),
            agent(
                "Review lead",
                "Merges reviewers' notes into one review.",
                "You lead the review. Merge the reviewers' notes, drop duplicates, order them by \
                 severity (blocking, should fix, nit) and end with a verdict: approve or request \
                 changes.",
            ),
        ],
        prompts: vec![prompt(
            "Review checklist",
            "What every reviewer checks the change for.",
            "Review this change: {{task}}\n\nFor each problem give the file and line, what is \
             wrong, and a fix. Say \"No findings\" when there are none.",
            at,
            vec![Validator::Length {
                min: Some(1),
                max: Some(12_000),
            }],
        )],
    }
}

fn document_extraction(at: &str) -> Template {
    let mut layout = Layout::new("Document extraction");
    layout
        .node(NodeKind::Input, "Document", 0.0, 0.0)
        .node(NodeKind::Prompt, "Extract fields", 1.0, 0.0)
        .node(NodeKind::Agent, "Extractor", 2.0, 0.0)
        .node(NodeKind::Agent, "Verifier", 3.0, 0.0)
        .node(NodeKind::Output, "Record", 4.0, 0.0)
        .edge("Document", "Extract fields")
        .edge("Extract fields", "Extractor")
        .edge("Extractor", "Verifier")
        .edge("Verifier", "Record");
    let schema = serde_json::json!({
        "type": "object",
        "required": ["title", "date", "parties", "amount"],
        "properties": {
            "title": { "type": "string" },
            "date": { "type": ["string", "null"] },
            "parties": { "type": "array", "items": { "type": "string" } },
            "amount": { "type": ["number", "null"] }
        }
    });
    Template {
        key: "document-extraction",
        title: "Document extraction",
        summary: "Pulls a title, date, parties and amount out of a document as checked JSON; a verifier confirms each field against the text.",
        graph: layout.graph,
        agents: vec![
            agent(
                "Extractor",
                "Reads a document and fills in a record.",
                "You extract structured data from documents. Answer with JSON only. Use null \
                 for a field the document does not state; never guess.",
            ),
            agent(
                "Verifier",
                "Checks an extracted record against the document.",
                "You verify extracted records. For each field, say whether the document \
                 supports it, quoting the words that do, and correct any field that is wrong.",
            ),
        ],
        prompts: vec![prompt(
            "Extract fields",
            "The record to extract; the answer must be JSON the schema accepts.",
            "Extract a record from this document: {{task}}\n\nAnswer with one JSON object: \
             {\"title\": text, \"date\": \"YYYY-MM-DD\" or null, \"parties\": [names], \
             \"amount\": number or null}.",
            at,
            vec![Validator::JsonSchema { schema }],
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: &str = "2026-12-06T10:00:00.000Z";

    #[test]
    fn every_template_is_a_valid_connected_graph_with_its_library() {
        let all = templates(AT);
        assert_eq!(all.len(), TEMPLATE_KEYS.len());
        for template in &all {
            template.graph.validate().unwrap();
            crate::ports::check_graph_connections(&template.graph)
                .unwrap_or_else(|error| panic!("{}: {error}", template.key));
            for node in template.graph.nodes.values() {
                let named = match node.kind {
                    NodeKind::Agent => template.agents.iter().any(|agent| agent.name == node.label),
                    NodeKind::Prompt => template
                        .prompts
                        .iter()
                        .any(|prompt| prompt.title == node.label),
                    _ => true,
                };
                assert!(
                    named,
                    "{}: node {} names nothing in the library",
                    template.key, node.label
                );
                let linked = template
                    .graph
                    .edges
                    .values()
                    .any(|edge| edge.from == node.id || edge.to == node.id);
                assert!(
                    linked,
                    "{}: node {} is not connected",
                    template.key, node.label
                );
            }
            for agent in &template.agents {
                agent.validate().unwrap();
            }
            for prompt in &template.prompts {
                prompt.validate().unwrap();
                assert!(prompt.versions[0].content.contains("{{task}}"));
            }
        }
    }

    #[test]
    fn templates_are_built_fresh_and_cards_list_agents_in_working_order() {
        let first = template("research-team", AT).unwrap();
        let second = template("research-team", AT).unwrap();
        assert_ne!(first.graph.id, second.graph.id);
        let card = first.card();
        assert_eq!(card.agents, ["Researcher", "Writer", "Critic"]);
        assert_eq!(card.preview.nodes.len(), first.graph.nodes.len());
        assert_eq!(card.preview.edges.len(), first.graph.edges.len());
        assert!(template("no-such-template", AT).is_none());
    }
}
