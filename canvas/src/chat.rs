//! The sandbox chat panel (F14): the session's chat on the left of the
//! canvas, a box to type a task for the graph's agents, tokens streaming in as
//! each agent answers, a run timeline (each step, its agent, how long it
//! took), a Cancel button while a run goes, and a window with the decision
//! when conflicting answers were settled. While a run goes, its running
//! nodes are drawn lit and each answer carried along an edge flashes it.
//!
//! The panel only shows: the host runs the task (`CanvasEvent::RunTask`,
//! `CanvasEvent::CancelRun`) and reports back with `CanvasCommand::Chat*`.

use std::collections::{BTreeMap, BTreeSet};

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use orrery_domain::{ChatMessage, ChatRole, MAX_MESSAGE_CHARS, NodeId};
use orrery_runtime::{Decision, Remedy, SandboxEvent};
use serde::{Deserialize, Serialize};

use crate::CanvasEvent;
use crate::bridge::CanvasBridge;
use crate::camera::OrbitCamera;
use crate::panels::{KeyboardCaptured, PanelLayout};
use crate::scene::{GraphNode, ShownGraph};

/// The panel's width in logical pixels (in a wide enough window).
pub const CHAT_WIDTH: f32 = 330.0;
/// The narrowest the panel gets, in a narrow window.
const MIN_CHAT_WIDTH: f32 = 220.0;

/// The panel's width in a window `window` logical pixels wide: narrower in
/// a narrow window, so that the toolbar at the right keeps its room.
pub fn chat_width(window: f32) -> f32 {
    (window - crate::panels::MIN_TOOL_WIDTH - 24.0).clamp(MIN_CHAT_WIDTH, CHAT_WIDTH)
}
/// The width of the closed panel (a strip with a button that opens it).
pub const CLOSED_WIDTH: f32 = 34.0;
/// How long an edge stays lit after an answer travelled along it.
const EDGE_FLASH_SECONDS: f32 = 1.5;

/// One line of the chat as shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatLine {
    /// Who wrote it.
    pub role: ChatRole,
    /// The agent's or user's name.
    pub author: String,
    /// What it says (Markdown, for agents' and the manager's answers).
    pub text: String,
    /// It reports a failure: drawn as an error, not as an answer.
    #[serde(default)]
    pub failed: bool,
    /// What fixes the failure, offered as a button beside it.
    #[serde(default)]
    pub remedy: Option<Remedy>,
}

impl ChatLine {
    /// A failure the sandbox reports, with what fixes it.
    fn failure(text: String, remedy: Option<Remedy>) -> Self {
        Self {
            role: ChatRole::System,
            author: "Sandbox".into(),
            text,
            failed: true,
            remedy,
        }
    }
}

/// Where a step of the run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// Waiting for the steps it depends on.
    Waiting,
    /// Its agent is answering.
    Running,
    /// Answered.
    Done,
    /// Failed.
    Failed,
}

/// One step on the run timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineStep {
    /// The plan's step id.
    pub step: String,
    /// The agent's name.
    pub agent: String,
    /// Where it stands.
    pub state: StepState,
    /// Seconds from the run's start to the step's start, and to its end.
    pub started: Option<f32>,
    /// Seconds from the run's start to the step's end.
    pub ended: Option<f32>,
}

/// The run shown now.
#[derive(Debug, Clone, Default)]
struct RunView {
    /// Team member (node id) → name.
    members: BTreeMap<String, String>,
    timeline: Vec<TimelineStep>,
    /// Text streamed so far per running step.
    streaming: BTreeMap<String, String>,
    /// Step → its member.
    step_agents: BTreeMap<String, String>,
    running: bool,
    /// Seconds since the run started.
    clock: f32,
    /// Edges lit: (from node, to node, seconds left).
    flashes: Vec<(NodeId, NodeId, f32)>,
    /// Steps whose answers failed their prompt's checks.
    rejected: BTreeSet<String>,
}

/// The chat panel's state.
#[derive(Resource, Debug, Default)]
pub struct ChatPanel {
    lines: Vec<ChatLine>,
    input: String,
    run: Option<RunView>,
    decision: Option<Decision>,
    decision_open: bool,
    /// The last problem the host reported (shown under the box).
    problem: Option<String>,
    /// Whether the panel is open (it is a narrow strip otherwise).
    open: bool,
    /// What is left of the user's runs and tokens this period, when a plan
    /// applies (shown under the box).
    pub allowance: Option<orrery_domain::runs::Remaining>,
}

/// What is left, in words: "Left this period: 3 runs · 12,000 tokens";
/// `None` when neither is limited.
pub fn allowance_words(remaining: &orrery_domain::runs::Remaining) -> Option<String> {
    let group = |value: u64| {
        let digits = value.to_string();
        let mut out = String::new();
        for (index, digit) in digits.chars().enumerate() {
            if index > 0 && (digits.len() - index) % 3 == 0 {
                out.push(',');
            }
            out.push(digit);
        }
        out
    };
    let mut parts = Vec::new();
    if let Some(runs) = remaining.runs {
        parts.push(format!(
            "{} {}",
            group(runs),
            if runs == 1 { "run" } else { "runs" }
        ));
    }
    if let Some(tokens) = remaining.tokens {
        parts.push(format!(
            "{} {}",
            group(tokens),
            if tokens == 1 { "token" } else { "tokens" }
        ));
    }
    (!parts.is_empty()).then(|| format!("Left this period: {}", parts.join(" · ")))
}

/// The nodes whose agents are answering now (drawn lit by the scene).
#[derive(Resource, Debug, Default, Clone, PartialEq)]
pub struct RunningNodes(pub BTreeSet<NodeId>);

/// What a test can check of the panel (part of the frame report).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatReport {
    /// Every line of the chat, oldest first.
    pub lines: Vec<ChatLine>,
    /// Text streamed so far per running step.
    pub streaming: BTreeMap<String, String>,
    /// The run timeline.
    pub timeline: Vec<TimelineStep>,
    /// Whether a run is going.
    pub running: bool,
    /// Nodes drawn lit.
    pub running_nodes: Vec<NodeId>,
    /// Edges lit now, as (from, to).
    pub lit_edges: Vec<(NodeId, NodeId)>,
    /// The decision window's summary, when it is open.
    pub decision: Option<String>,
    /// What is left of the period's runs and tokens, as shown.
    #[serde(default)]
    pub allowance: Option<String>,
}

impl ChatPanel {
    /// Shows a session's stored chat (the graph was opened).
    pub fn show_messages(&mut self, messages: &[ChatMessage]) {
        self.open = !messages.is_empty();
        self.lines = messages
            .iter()
            .map(|message| ChatLine {
                role: message.role,
                author: message.author.clone(),
                text: message.text.clone(),
                failed: false,
                remedy: None,
            })
            .collect();
    }

    /// A run began: the task is in the chat, `members` name the team.
    pub fn run_started(&mut self, task: &str, members: BTreeMap<String, String>) {
        if self.input.trim() == task.trim() {
            self.input.clear();
        }
        self.lines.push(ChatLine {
            role: ChatRole::User,
            author: "You".into(),
            text: task.to_owned(),
            failed: false,
            remedy: None,
        });
        self.problem = None;
        self.open = true;
        self.decision = None;
        self.decision_open = false;
        self.run = Some(RunView {
            members,
            running: true,
            ..RunView::default()
        });
    }

    /// Something happened in the run. What happens inside a custom agent
    /// (a nested team) shows with its name in front, "Team › Researcher",
    /// and its steps join the timeline under the outer step ("s2/s1").
    pub fn run_event(&mut self, event: &SandboxEvent) {
        let Some(run) = self.run.as_mut() else {
            return;
        };
        let mut event = event;
        let mut within = String::new();
        let mut path = String::new();
        while let SandboxEvent::Nested { step, agent, inner } = event {
            within.push_str(&format!("{agent} › "));
            path.push_str(&format!("{step}/"));
            event = inner;
        }
        let nested = !within.is_empty();
        let key = |step: &str| format!("{path}{step}");
        let name = |run: &RunView, member: &str| {
            let name = run
                .members
                .get(member)
                .cloned()
                .unwrap_or_else(|| member.to_owned());
            format!("{within}{name}")
        };
        match event {
            SandboxEvent::PlanReady { plan } => {
                let mut steps = Vec::new();
                for step in &plan.steps {
                    let agent = name(run, &step.agent);
                    steps.push(format!("{}. {} — {}", step.id, agent, step.task));
                    run.step_agents.insert(key(&step.id), step.agent.clone());
                    run.timeline.push(TimelineStep {
                        step: key(&step.id),
                        agent,
                        state: StepState::Waiting,
                        started: None,
                        ended: None,
                    });
                }
                self.lines.push(ChatLine {
                    role: ChatRole::Manager,
                    author: format!("{within}Manager"),
                    text: format!("Plan:\n{}", steps.join("\n")),
                    failed: false,
                    remedy: None,
                });
            }
            SandboxEvent::PlanRejected { reason } => self.lines.push(ChatLine {
                role: ChatRole::System,
                author: "Sandbox".into(),
                text: format!("{within}The plan was refused ({reason}); asking again."),
                failed: false,
                remedy: None,
            }),
            SandboxEvent::StepStarted { step, .. } => {
                let clock = run.clock;
                let step = key(step);
                if let Some(entry) = run.timeline.iter_mut().find(|entry| entry.step == step) {
                    entry.state = StepState::Running;
                    entry.started = Some(clock);
                }
                run.streaming.insert(step, String::new());
            }
            SandboxEvent::StepToken { step, text } => {
                let streamed = run.streaming.entry(key(step)).or_default();
                if streamed.len() + text.len() <= MAX_MESSAGE_CHARS * 4 {
                    streamed.push_str(text);
                }
            }
            SandboxEvent::StepFinished { step, agent, text } => {
                let clock = run.clock;
                let step = key(step);
                if let Some(entry) = run.timeline.iter_mut().find(|entry| entry.step == step) {
                    entry.state = StepState::Done;
                    entry.ended = Some(clock);
                }
                run.streaming.remove(&step);
                let author = name(run, agent);
                self.lines.push(ChatLine {
                    role: ChatRole::Agent,
                    author,
                    text: text.clone(),
                    failed: false,
                    remedy: None,
                });
            }
            SandboxEvent::OutputRejected {
                step,
                agent,
                prompt,
                text,
                failures,
            } => {
                let step = key(step);
                run.streaming.remove(&step);
                let author = name(run, agent);
                let failures: Vec<String> = failures.iter().map(ToString::to_string).collect();
                self.lines.push(ChatLine {
                    role: ChatRole::Agent,
                    author: author.clone(),
                    text: text.clone(),
                    failed: false,
                    remedy: None,
                });
                self.lines.push(ChatLine::failure(
                    format!(
                        "{author}'s answer fails the checks of the prompt “{prompt}”:\n{}",
                        failures.join("\n")
                    ),
                    None,
                ));
                run.rejected.insert(step);
            }
            SandboxEvent::StepFailed {
                step,
                agent,
                error,
                remedy,
            } => {
                let clock = run.clock;
                let step = key(step);
                if let Some(entry) = run.timeline.iter_mut().find(|entry| entry.step == step) {
                    entry.state = StepState::Failed;
                    entry.ended = Some(clock);
                }
                run.streaming.remove(&step);
                // A rejected answer's failure was said with its checks.
                if !run.rejected.contains(&step) {
                    let author = name(run, agent);
                    self.lines.push(ChatLine::failure(
                        format!("{author} failed: {error}"),
                        *remedy,
                    ));
                }
            }
            // Inner edges join nodes of another graph, not drawn here.
            SandboxEvent::EdgeMessage { .. } if nested => {}
            SandboxEvent::EdgeMessage {
                from_step, to_step, ..
            } => {
                // The plan names each step's member: the node the edge joins.
                let node = |step: &str| {
                    run.step_agents
                        .get(step)
                        .and_then(|member| member.parse().ok())
                };
                if let (Some(from), Some(to)) = (node(from_step), node(to_step)) {
                    run.flashes.push((from, to, EDGE_FLASH_SECONDS));
                }
            }
            SandboxEvent::ConflictResolved { decision } => {
                self.lines.push(ChatLine {
                    role: ChatRole::System,
                    author: "Sandbox".into(),
                    text: format!(
                        "{within}Conflict settled by {}: {}",
                        decision.method, decision.summary
                    ),
                    failed: false,
                    remedy: None,
                });
                if !nested {
                    self.decision = Some(decision.clone());
                    self.decision_open = true;
                }
            }
            // A custom agent's answer is its step's answer.
            SandboxEvent::Finished { .. } if nested => {}
            SandboxEvent::Finished { answer } => self.lines.push(ChatLine {
                role: ChatRole::Manager,
                author: "Manager".into(),
                text: answer.clone(),
                failed: false,
                remedy: None,
            }),
            SandboxEvent::ToolCalled { .. } => {}
            SandboxEvent::ToolAnswered {
                tool,
                content,
                is_error,
                ..
            } => {
                let shown: String = content.chars().take(500).collect();
                self.lines.push(ChatLine {
                    role: ChatRole::System,
                    author: format!("{within}Tools"),
                    text: if *is_error {
                        format!("{tool} failed: {shown}")
                    } else {
                        format!("{tool} → {shown}")
                    },
                    failed: *is_error,
                    remedy: None,
                });
            }
            SandboxEvent::Nested { .. } => {}
        }
    }

    /// The run ended; `reason` says why without an answer (cancelled, failed).
    pub fn run_ended(&mut self, reason: Option<String>, remedy: Option<Remedy>) {
        if let Some(run) = self.run.as_mut() {
            run.running = false;
            run.streaming.clear();
            for entry in &mut run.timeline {
                if matches!(entry.state, StepState::Running | StepState::Waiting) {
                    entry.state = StepState::Failed;
                }
            }
        }
        if let Some(reason) = reason {
            // The failed step said what fixes it already: the run's end
            // repeats the reason, not the button.
            let offered = self
                .lines
                .iter()
                .rev()
                .take(3)
                .any(|line| line.remedy.is_some());
            let mut line = ChatLine::failure(reason, remedy.filter(|_| !offered));
            // A cancelled run is not a failure.
            line.failed = line.text != orrery_sessions::CANCELLED_REASON;
            self.lines.push(line);
        }
    }

    /// The host could not start the run.
    pub fn refused(&mut self, reason: String) {
        self.open = true;
        self.problem = Some(reason);
    }

    /// Whether a run is going.
    pub fn is_running(&self) -> bool {
        self.run.as_ref().is_some_and(|run| run.running)
    }

    /// What tests can check.
    pub fn report(&self, running: &RunningNodes) -> ChatReport {
        ChatReport {
            lines: self.lines.clone(),
            streaming: self
                .run
                .as_ref()
                .map(|run| run.streaming.clone())
                .unwrap_or_default(),
            timeline: self
                .run
                .as_ref()
                .map(|run| run.timeline.clone())
                .unwrap_or_default(),
            running: self.is_running(),
            running_nodes: running.0.iter().copied().collect(),
            lit_edges: self
                .run
                .as_ref()
                .map(|run| {
                    run.flashes
                        .iter()
                        .map(|(from, to, _)| (*from, *to))
                        .collect()
                })
                .unwrap_or_default(),
            decision: self
                .decision_open
                .then(|| {
                    self.decision
                        .as_ref()
                        .map(|decision| decision.summary.clone())
                })
                .flatten(),
            allowance: self.allowance.as_ref().and_then(allowance_words),
        }
    }
}

/// What the canvas is told of a run's update (for hosts running sessions).
pub fn command_for(update: orrery_sessions::RunUpdate) -> crate::CanvasCommand {
    use orrery_sessions::RunUpdate;
    match update {
        RunUpdate::Started { task, members, .. } => {
            crate::CanvasCommand::RunStarted { task, members }
        }
        RunUpdate::Event(event) => crate::CanvasCommand::RunEvent(Box::new(event)),
        RunUpdate::Refused { reason } => crate::CanvasCommand::RunRefused(reason),
        RunUpdate::Ended { reason, remedy, .. } => {
            crate::CanvasCommand::RunEnded { reason, remedy }
        }
    }
}

/// The chat panel.
pub struct ChatPanelPlugin;

impl Plugin for ChatPanelPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<ChatPanel>()
            .init_resource::<RunningNodes>()
            .add_systems(Update, (advance_run_clock, mark_running_nodes))
            .add_systems(
                EguiPrimaryContextPass,
                chat_panel
                    .run_if(crate::panels::panels_shown)
                    .after(crate::panels::PanelSystems),
            );
    }
}

fn advance_run_clock(time: Res<Time>, mut panel: ResMut<ChatPanel>) {
    let Some(run) = panel.run.as_mut() else {
        return;
    };
    let step = time.delta_secs();
    if run.running {
        run.clock += step;
    }
    if !run.flashes.is_empty() {
        for flash in &mut run.flashes {
            flash.2 -= step;
        }
        run.flashes.retain(|flash| flash.2 > 0.0);
    }
}

/// The nodes of the steps that are answering now.
fn mark_running_nodes(panel: Res<ChatPanel>, mut running: ResMut<RunningNodes>) {
    if !panel.is_changed() {
        return;
    }
    let now: BTreeSet<NodeId> = panel
        .run
        .as_ref()
        .filter(|run| run.running)
        .map(|run| {
            run.timeline
                .iter()
                .filter(|entry| entry.state == StepState::Running)
                .filter_map(|entry| run.step_agents.get(&entry.step)?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    if running.0 != now {
        running.0 = now;
    }
}

/// Tells the camera how much of the window's left the panel covers.
fn set_inset(inset: &mut crate::camera::ViewInset, right: f32) {
    if (inset.left - right).abs() >= 0.5 {
        inset.left = right;
    }
}

fn to_rect(area: egui::Rect) -> Rect {
    Rect::new(area.left(), area.top(), area.right(), area.bottom())
}

/// Text of failures, and their frame.
const ERROR_TEXT: egui::Color32 = egui::Color32::from_rgb(255, 196, 188);
const ERROR_STROKE: egui::Color32 = egui::Color32::from_rgb(214, 92, 80);
const ERROR_FILL: egui::Color32 = egui::Color32::from_rgba_premultiplied(70, 18, 16, 150);

/// The button that offers a remedy, and its name in the frame report.
fn remedy_label(remedy: Remedy) -> &'static str {
    match remedy {
        Remedy::OpenProviders => "Open Providers",
    }
}

fn remedy_control(remedy: Remedy) -> String {
    remedy_label(remedy).to_lowercase()
}

/// One line of the chat: who, then what. Agents' and the manager's answers
/// are Markdown; a failure is an error in a red frame with the button that
/// fixes it, which is returned.
fn show_line(
    ui: &mut egui::Ui,
    line: &ChatLine,
    markdown: &mut egui_commonmark::CommonMarkCache,
) -> Option<(Remedy, egui::Response)> {
    if line.failed {
        return egui::Frame::new()
            .fill(ERROR_FILL)
            .stroke(egui::Stroke::new(1.0, ERROR_STROKE))
            .corner_radius(4.0)
            .inner_margin(egui::Margin::same(8))
            .show(ui, |ui| {
                ui.set_width(ui.available_width());
                ui.label(
                    egui::RichText::new(format!("⚠ {}", line.author))
                        .strong()
                        .color(ERROR_STROKE),
                );
                // The runtime's messages name commands in `code`.
                ui.scope(|ui| {
                    ui.visuals_mut().override_text_color = Some(ERROR_TEXT);
                    egui_commonmark::CommonMarkViewer::new().show(ui, markdown, &line.text);
                });
                let remedy = line.remedy?;
                Some((remedy, ui.button(remedy_label(remedy))))
            })
            .inner;
    }
    ui.colored_label(
        role_colour(line.role),
        egui::RichText::new(&line.author).strong(),
    );
    match line.role {
        ChatRole::Agent | ChatRole::Manager => {
            egui_commonmark::CommonMarkViewer::new().show(ui, markdown, &line.text);
        }
        ChatRole::User | ChatRole::System => {
            ui.label(&line.text);
        }
    }
    None
}

fn role_colour(role: ChatRole) -> egui::Color32 {
    match role {
        ChatRole::User => egui::Color32::from_rgb(150, 200, 255),
        ChatRole::Agent => egui::Color32::from_rgb(140, 230, 160),
        ChatRole::Manager => egui::Color32::from_rgb(255, 200, 110),
        ChatRole::System => egui::Color32::from_rgb(200, 200, 210),
    }
}

#[allow(clippy::too_many_arguments)]
/// Which command keys (Ctrl, Super) are down, followed key event by key
/// event.
#[derive(Default)]
struct CommandKeys {
    ctrl: bool,
    super_key: bool,
}

/// What one frame's key events meant, read in the order they happened.
#[derive(Debug, Default, PartialEq)]
struct KeysRead {
    /// Text typed that egui did not get (see [`CommandKeys::read`]).
    unseen_text: String,
    /// Enter was pressed while Ctrl (or Super) was down.
    command_enter: bool,
}

impl CommandKeys {
    fn held(&self) -> bool {
        self.ctrl || self.super_key
    }

    /// Reads a frame's key events in order. egui's input takes a frame's key
    /// events with the command keys as they stand at the end of the frame:
    /// letters typed before Ctrl went down in the same frame are dropped
    /// there, and a quick Ctrl+Enter whose Ctrl is up again by the end of
    /// the frame reads as a plain Enter. Both are recovered here.
    fn read<'a>(
        &mut self,
        events: impl Iterator<Item = &'a bevy::input::keyboard::KeyboardInput>,
    ) -> KeysRead {
        use bevy::input::keyboard::Key;
        let mut read = KeysRead::default();
        for event in events {
            let pressed = event.state.is_pressed();
            match event.key_code {
                KeyCode::ControlLeft | KeyCode::ControlRight => self.ctrl = pressed,
                KeyCode::SuperLeft | KeyCode::SuperRight => self.super_key = pressed,
                KeyCode::Enter | KeyCode::NumpadEnter if pressed && self.held() => {
                    read.command_enter = true;
                }
                _ if pressed && !self.held() => match &event.logical_key {
                    Key::Character(text) if !text.chars().any(char::is_control) => {
                        read.unseen_text.push_str(text);
                    }
                    Key::Space => read.unseen_text.push(' '),
                    _ => {}
                },
                _ => {}
            }
        }
        // With no command key down at the end, egui took every letter.
        if !self.held() {
            read.unseen_text.clear();
        }
        read
    }
}

#[allow(clippy::too_many_arguments)]
fn chat_panel(
    mut contexts: EguiContexts,
    shown: Res<ShownGraph>,
    mut panel: ResMut<ChatPanel>,
    mut layout: ResMut<PanelLayout>,
    mut captured: ResMut<KeyboardCaptured>,
    mut inset: ResMut<crate::camera::ViewInset>,
    bridge: Res<CanvasBridge>,
    camera: Single<(&Camera, &GlobalTransform), With<OrbitCamera>>,
    nodes: Query<(&GraphNode, &Transform)>,
    mut keyboard: MessageReader<bevy::input::keyboard::KeyboardInput>,
    mut command_held: Local<CommandKeys>,
    mut markdown: Local<egui_commonmark::CommonMarkCache>,
) -> Result {
    let context = contexts.ctx_mut()?.clone();
    let keys_read = command_held.read(keyboard.read());
    let Some(graph) = &shown.graph else {
        return Ok(());
    };
    let mut area = context.viewport_rect();
    if layout.status_bar_top > 0.0 {
        area.max.y = layout.status_bar_top;
    }
    let mut screen = egui::Ui::new(
        context.clone(),
        "chat".into(),
        egui::UiBuilder::new()
            .layer_id(egui::LayerId::background())
            .max_rect(area),
    );
    let panel = &mut *panel;
    if !panel.open {
        let response = egui::Panel::left("chat-closed")
            .exact_size(CLOSED_WIDTH)
            .resizable(false)
            .show(&mut screen, |ui| {
                let button = ui.button("»").on_hover_text("Open the chat");
                layout
                    .controls
                    .push(("open chat".into(), to_rect(button.rect)));
                if button.clicked() {
                    panel.open = true;
                }
            });
        layout.covered.push(to_rect(response.response.rect));
        // The strip is narrow: the view does not move for it.
        set_inset(&mut inset, 0.0);
        captured.0 |= context.egui_wants_keyboard_input();
        return Ok(());
    }
    let mut send = false;
    let mut cancel = false;
    let mut close = false;
    let response = egui::Panel::left("chat")
        .exact_size(chat_width(area.width()))
        .resizable(false)
        .show(&mut screen, |ui| {
            ui.horizontal(|ui| {
                close = ui.small_button("«").on_hover_text("Close the chat").clicked();
                ui.heading("Chat");
                if panel.is_running() {
                    ui.spinner();
                    let button = ui.button("Cancel run");
                    layout.controls.push(("cancel run".into(), to_rect(button.rect)));
                    cancel = button.clicked();
                }
            });
            if let Some(run) = panel.run.as_ref().filter(|run| !run.timeline.is_empty()) {
                ui.label(egui::RichText::new("Run timeline").strong());
                for entry in &run.timeline {
                    let (mark, colour) = match entry.state {
                        StepState::Waiting => ("waiting", egui::Color32::GRAY),
                        StepState::Running => ("running", egui::Color32::from_rgb(255, 190, 80)),
                        StepState::Done => ("done", egui::Color32::from_rgb(120, 220, 140)),
                        StepState::Failed => ("stopped", egui::Color32::from_rgb(255, 110, 100)),
                    };
                    let took = match (entry.started, entry.ended) {
                        (Some(start), Some(end)) => format!("{:.1} s", end - start),
                        (Some(start), None) => format!("{:.1} s…", run.clock - start),
                        _ => String::new(),
                    };
                    ui.horizontal(|ui| {
                        ui.colored_label(colour, mark);
                        ui.label(format!("{} {}", entry.step, entry.agent));
                        ui.weak(took);
                    });
                }
                ui.separator();
            }
            let input_height = 86.0;
            egui::ScrollArea::vertical()
                .max_height((ui.available_height() - input_height).max(60.0))
                .stick_to_bottom(true)
                .auto_shrink([false, false])
                .show(ui, |ui| {
                    if panel.lines.is_empty() {
                        ui.weak(format!(
                            "Type a task for the agents of “{}”: the manager plans it, the agents answer along the graph's edges.",
                            graph.name
                        ));
                    }
                    for line in &panel.lines {
                        if let Some((remedy, button)) = show_line(ui, line, &mut markdown) {
                            layout
                                .controls
                                .push((remedy_control(remedy), to_rect(button.rect)));
                            if button.clicked() {
                                bridge.send(CanvasEvent::Remedy(remedy));
                            }
                        }
                        ui.add_space(4.0);
                    }
                    if let Some(run) = &panel.run {
                        for (step, text) in &run.streaming {
                            let agent = run
                                .step_agents
                                .get(step)
                                .and_then(|member| run.members.get(member))
                                .map_or(step.as_str(), String::as_str);
                            ui.colored_label(
                                role_colour(ChatRole::Agent),
                                egui::RichText::new(format!("{agent} (answering…)")).strong(),
                            );
                            ui.label(text);
                            ui.add_space(4.0);
                        }
                    }
                });
            ui.separator();
            let editor = ui.add(
                egui::TextEdit::multiline(&mut panel.input)
                    .hint_text("A task for the agents… (Ctrl+Enter runs it)")
                    .desired_rows(2)
                    .desired_width(f32::INFINITY)
                    .char_limit(MAX_MESSAGE_CHARS),
            );
            layout.controls.push(("chat input".into(), to_rect(editor.rect)));
            let typed_enter = editor.has_focus()
                && (keys_read.command_enter
                    || ui.input(|input| {
                        input.key_pressed(egui::Key::Enter) && input.modifiers.command
                    }));
            let run = ui.add_enabled(!panel.is_running(), egui::Button::new("Run task"));
            layout.controls.push(("run task".into(), to_rect(run.rect)));
            send = run.clicked() || (typed_enter && !panel.is_running());
            if let Some(problem) = &panel.problem {
                // Under the button, wrapped: a refusal can be a sentence long.
                ui.colored_label(egui::Color32::from_rgb(255, 120, 110), problem);
            }
            if let Some(words) = panel.allowance.as_ref().and_then(allowance_words) {
                ui.label(egui::RichText::new(words).weak());
            }
        });
    layout.covered.push(to_rect(response.response.rect));
    layout
        .controls
        .push(("chat panel".into(), to_rect(response.response.rect)));
    set_inset(&mut inset, response.response.rect.right());
    if close {
        panel.open = false;
    }
    if send {
        // Letters typed just before Ctrl+Enter, in the same frame, reach
        // egui with Ctrl already down and are dropped there: put them back,
        // so the task is exactly what was typed.
        if !keys_read.unseen_text.is_empty() {
            panel.input.push_str(&keys_read.unseen_text);
        }
        let task = panel.input.trim().to_owned();
        if task.is_empty() {
            panel.problem = Some("Type a task first.".into());
        } else {
            // The box keeps the task until the run starts: a refused task
            // (no agents, a custom agent that contains itself) is not lost.
            bridge.send(CanvasEvent::RunTask {
                graph: graph.id,
                task,
            });
        }
    }
    if cancel {
        bridge.send(CanvasEvent::CancelRun);
    }
    if let Some(decision) = panel.decision.clone() {
        let mut open = panel.decision_open;
        egui::Window::new("Conflict resolved")
            .open(&mut open)
            .default_pos(egui::pos2(chat_width(area.width()) + 24.0, 60.0))
            .resizable(false)
            .show(&context, |ui| {
                ui.label(format!(
                    "Settled by {}: {}",
                    decision.method, decision.summary
                ));
                egui::Grid::new("standings").striped(true).show(ui, |ui| {
                    for standing in &decision.standings {
                        let name = if standing.step == decision.winner {
                            egui::RichText::new(format!("{} (chosen)", standing.step)).strong()
                        } else {
                            egui::RichText::new(&standing.step)
                        };
                        ui.label(name);
                        ui.label(format!("{}", standing.score));
                        ui.label(&standing.reason);
                        ui.end_row();
                    }
                });
            });
        panel.decision_open = open;
    }
    // Answers travelling along edges: the edge flashes.
    if let Some(run) = &panel.run
        && !run.flashes.is_empty()
    {
        let (camera, camera_transform) = *camera;
        let positions: BTreeMap<NodeId, Vec3> = nodes
            .iter()
            .map(|(node, transform)| (node.id, transform.translation))
            .collect();
        let painter = context.layer_painter(egui::LayerId::new(
            egui::Order::Background,
            egui::Id::new("run-edges"),
        ));
        for (from, to, left) in &run.flashes {
            let (Some(from), Some(to)) = (positions.get(from), positions.get(to)) else {
                continue;
            };
            let (Ok(start), Ok(end)) = (
                camera.world_to_viewport(camera_transform, *from),
                camera.world_to_viewport(camera_transform, *to),
            ) else {
                continue;
            };
            let strength = (left / EDGE_FLASH_SECONDS).clamp(0.0, 1.0);
            let alpha = (strength * 255.0) as u8;
            painter.line_segment(
                [egui::pos2(start.x, start.y), egui::pos2(end.x, end.y)],
                egui::Stroke::new(
                    4.0,
                    egui::Color32::from_rgba_unmultiplied(255, 190, 80, alpha),
                ),
            );
        }
    }
    captured.0 |= context.egui_wants_keyboard_input();
    Ok(())
}

#[cfg(test)]
mod tests {

    fn key(
        code: KeyCode,
        logical: bevy::input::keyboard::Key,
        pressed: bool,
    ) -> bevy::input::keyboard::KeyboardInput {
        bevy::input::keyboard::KeyboardInput {
            key_code: code,
            logical_key: logical,
            state: if pressed {
                bevy::input::ButtonState::Pressed
            } else {
                bevy::input::ButtonState::Released
            },
            text: None,
            repeat: false,
            window: Entity::PLACEHOLDER,
        }
    }

    #[test]
    fn letters_typed_before_ctrl_in_one_frame_are_recovered() {
        use bevy::input::keyboard::Key;
        let letter = |c: &str, code| key(code, Key::Character(c.into()), true);
        let ctrl = |pressed| key(KeyCode::ControlLeft, Key::Control, pressed);
        let enter = key(KeyCode::Enter, Key::Enter, true);
        let mut keys = CommandKeys::default();
        // "...on" then Ctrl+Enter in one frame, Ctrl still down: egui lost "on".
        let frame = [
            letter("o", KeyCode::KeyO),
            letter("n", KeyCode::KeyN),
            ctrl(true),
            enter.clone(),
        ];
        let read = keys.read(frame.iter());
        assert_eq!(read.unseen_text, "on");
        assert!(read.command_enter);
        // Ctrl released in the next frame: nothing was lost there.
        let read = keys.read([ctrl(false), letter("x", KeyCode::KeyX)].iter());
        assert_eq!(read, KeysRead::default());
        // A quick Ctrl+Enter, Ctrl up again within the frame: still a send.
        let read = keys.read([ctrl(true), enter.clone(), ctrl(false)].iter());
        assert!(read.command_enter && read.unseen_text.is_empty());
        // A shortcut typed with Ctrl down is not text.
        let read = keys.read([ctrl(true), letter("a", KeyCode::KeyA)].iter());
        assert_eq!(read, KeysRead::default());
    }

    use super::*;
    use orrery_runtime::{Plan, PlanStep, ValidationFailure};

    fn plan(steps: &[(&str, &str)]) -> Plan {
        Plan {
            steps: steps
                .iter()
                .map(|(id, member)| PlanStep {
                    id: (*id).into(),
                    agent: (*member).into(),
                    task: format!("do {id}"),
                    depends_on: Vec::new(),
                })
                .collect(),
            final_steps: Vec::new(),
        }
    }

    fn inside(event: SandboxEvent) -> SandboxEvent {
        SandboxEvent::Nested {
            step: "s1".into(),
            agent: "Research desk".into(),
            inner: Box::new(event),
        }
    }

    #[test]
    fn a_refused_task_stays_in_the_box_and_a_started_one_leaves_it() {
        let mut panel = ChatPanel {
            input: "Summarise Lisbon".into(),
            ..ChatPanel::default()
        };
        panel.refused("the custom agent “Desk” contains itself (Desk → Desk)".into());
        assert_eq!(panel.input, "Summarise Lisbon");
        assert_eq!(
            panel.problem.as_deref(),
            Some("the custom agent “Desk” contains itself (Desk → Desk)")
        );
        panel.run_started("Summarise Lisbon", BTreeMap::new());
        assert!(panel.input.is_empty());
        assert_eq!(panel.problem, None);
    }

    #[test]
    fn what_tools_give_shows_in_the_chat_and_failures_stand_out() {
        let mut panel = ChatPanel::default();
        panel.run_started("Add.", [("n1".to_owned(), "Counter".to_owned())].into());
        panel.run_event(&SandboxEvent::ToolCalled {
            step: "s1".into(),
            tool: "calculator".into(),
            arguments: r#"{"expression":"19 + 23"}"#.into(),
        });
        panel.run_event(&SandboxEvent::ToolAnswered {
            step: "s1".into(),
            tool: "calculator".into(),
            content: "42".into(),
            is_error: false,
        });
        panel.run_event(&inside(SandboxEvent::ToolAnswered {
            step: "a1".into(),
            tool: "http_get".into(),
            content: "not allowed: example.com".into(),
            is_error: true,
        }));
        let lines: Vec<(&str, &str, bool)> = panel
            .lines
            .iter()
            .map(|line| (line.author.as_str(), line.text.as_str(), line.failed))
            .collect();
        assert_eq!(
            lines,
            [
                ("You", "Add.", false),
                ("Tools", "calculator → 42", false),
                (
                    "Research desk › Tools",
                    "http_get failed: not allowed: example.com",
                    true
                ),
            ]
        );
    }

    #[test]
    fn a_custom_agents_steps_show_under_its_step_and_a_rejected_answer_shows_its_checks() {
        let mut panel = ChatPanel::default();
        panel.run_started(
            "Describe Lisbon.",
            [
                ("n1".to_owned(), "Research desk".to_owned()),
                ("n2".to_owned(), "Writer".to_owned()),
                ("i1".to_owned(), "Archivist".to_owned()),
            ]
            .into(),
        );
        panel.run_event(&SandboxEvent::PlanReady {
            plan: plan(&[("s1", "n1"), ("s2", "n2")]),
        });
        panel.run_event(&SandboxEvent::StepStarted {
            step: "s1".into(),
            agent: "Research desk".into(),
        });
        panel.run_event(&inside(SandboxEvent::PlanReady {
            plan: plan(&[("a1", "i1")]),
        }));
        panel.run_event(&inside(SandboxEvent::StepStarted {
            step: "a1".into(),
            agent: "Archivist".into(),
        }));
        panel.run_event(&inside(SandboxEvent::StepToken {
            step: "a1".into(),
            text: "Rec".into(),
        }));
        let run = panel.run.as_ref().unwrap();
        assert_eq!(run.streaming["s1/a1"], "Rec");
        panel.run_event(&inside(SandboxEvent::StepFinished {
            step: "a1".into(),
            agent: "Archivist".into(),
            text: "Records.".into(),
        }));
        panel.run_event(&inside(SandboxEvent::Finished {
            answer: "Records.".into(),
        }));
        panel.run_event(&SandboxEvent::StepFinished {
            step: "s1".into(),
            agent: "Research desk".into(),
            text: "Records.".into(),
        });
        let timeline: Vec<(&str, &str, StepState)> = panel
            .run
            .as_ref()
            .unwrap()
            .timeline
            .iter()
            .map(|entry| (entry.step.as_str(), entry.agent.as_str(), entry.state))
            .collect();
        assert_eq!(
            timeline,
            [
                ("s1", "Research desk", StepState::Done),
                ("s2", "Writer", StepState::Waiting),
                ("s1/a1", "Research desk › Archivist", StepState::Done),
            ]
        );

        panel.run_event(&SandboxEvent::StepStarted {
            step: "s2".into(),
            agent: "Writer".into(),
        });
        panel.run_event(&SandboxEvent::OutputRejected {
            step: "s2".into(),
            agent: "Writer".into(),
            prompt: "House style".into(),
            text: "Lisbon!!!".into(),
            failures: vec![ValidationFailure {
                validator: "length ≤ 5".into(),
                reason: "the output is 9 characters long; the maximum is 5".into(),
            }],
        });
        panel.run_event(&SandboxEvent::StepFailed {
            step: "s2".into(),
            agent: "Writer".into(),
            error: "the output was rejected".into(),
            remedy: None,
        });
        let lines: Vec<(&str, &str)> = panel
            .lines
            .iter()
            .map(|line| (line.author.as_str(), line.text.as_str()))
            .collect();
        assert_eq!(
            lines[2..],
            [
                (
                    "Research desk › Manager",
                    "Plan:\na1. Research desk › Archivist — do a1"
                ),
                ("Research desk › Archivist", "Records."),
                ("Research desk", "Records."),
                ("Writer", "Lisbon!!!"),
                (
                    "Sandbox",
                    "Writer's answer fails the checks of the prompt “House style”:\n\
                     length ≤ 5 validator: the output is 9 characters long; the maximum is 5"
                ),
            ],
            "the inner run's end adds nothing, and the failure is said once"
        );
        assert_eq!(
            panel.run.as_ref().unwrap().timeline[1].state,
            StepState::Failed
        );
    }

    /// Everything a frame of egui drew as text, joined.
    fn drawn_text(run: impl FnMut(&mut egui::Ui)) -> String {
        let context = egui::Context::default();
        let mut run = run;
        let mut output = context.run_ui(egui::RawInput::default(), |ui| run(ui));
        // No renderer here to take the font atlas.
        output.textures_delta.clear();
        let mut text = String::new();
        for clipped in &output.shapes {
            if let egui::Shape::Text(shape) = &clipped.shape {
                text.push_str(shape.galley.text());
                text.push('\n');
            }
        }
        text
    }

    #[test]
    fn answers_render_as_markdown_and_failures_as_errors_with_their_fix() {
        let mut cache = egui_commonmark::CommonMarkCache::default();
        let answer = ChatLine {
            role: ChatRole::Agent,
            author: "Writer".into(),
            text: "**Lisbon** is the capital; call `capital()`.\n\n- one\n- two".into(),
            failed: false,
            remedy: None,
        };
        let drawn = drawn_text(|ui| {
            assert!(show_line(ui, &answer, &mut cache).is_none());
        });
        assert!(
            drawn.contains("Lisbon") && drawn.contains("capital()"),
            "{drawn}"
        );
        assert!(
            !drawn.contains("**") && !drawn.contains('`'),
            "raw Markdown drawn: {drawn}"
        );

        // A step that failed for want of a provider: an error, with the fix.
        let mut panel = ChatPanel::default();
        panel.run_started(
            "Summarise",
            BTreeMap::from([("n1".into(), "Writer".into())]),
        );
        panel.run_event(&SandboxEvent::StepFailed {
            step: "s1".into(),
            agent: "n1".into(),
            error: "No model provider answers at http://127.0.0.1:9/v1.".into(),
            remedy: Some(Remedy::OpenProviders),
        });
        panel.run_ended(
            Some("The run failed: no provider".into()),
            Some(Remedy::OpenProviders),
        );
        let failures: Vec<&ChatLine> = panel.lines.iter().filter(|line| line.failed).collect();
        assert_eq!(failures.len(), 2);
        assert_eq!(failures[0].remedy, Some(Remedy::OpenProviders));
        assert_eq!(failures[1].remedy, None, "the fix is offered once");
        let mut offered = None;
        let drawn = drawn_text(|ui| {
            offered = show_line(ui, failures[0], &mut cache).map(|(remedy, _)| remedy)
        });
        assert_eq!(offered, Some(Remedy::OpenProviders));
        assert!(
            drawn.contains("Open Providers") && drawn.contains("No model provider"),
            "{drawn}"
        );

        // A cancelled run is said plainly, not as a failure.
        panel.run_started("Again", BTreeMap::new());
        panel.run_ended(Some(orrery_sessions::CANCELLED_REASON.into()), None);
        assert!(!panel.lines.last().unwrap().failed);
    }

    #[test]
    fn what_is_left_reads_in_words_and_unlimited_parts_are_left_out() {
        use orrery_domain::runs::Remaining;
        let words = |runs, tokens| allowance_words(&Remaining { runs, tokens });
        assert_eq!(
            words(Some(3), Some(1_234_567)).as_deref(),
            Some("Left this period: 3 runs · 1,234,567 tokens")
        );
        assert_eq!(
            words(Some(1), None).as_deref(),
            Some("Left this period: 1 run")
        );
        assert_eq!(
            words(None, Some(0)).as_deref(),
            Some("Left this period: 0 tokens")
        );
        assert_eq!(words(None, None), None);
        let mut panel = ChatPanel {
            allowance: Some(Remaining {
                runs: Some(12),
                tokens: None,
            }),
            ..ChatPanel::default()
        };
        assert_eq!(
            panel.report(&RunningNodes::default()).allowance.as_deref(),
            Some("Left this period: 12 runs")
        );
        panel.allowance = None;
        assert_eq!(panel.report(&RunningNodes::default()).allowance, None);
    }
}
