// The Channels screen: a Telegram bot or a WhatsApp number that answers
// people with one of your agents or graphs. The server makes those runs, so
// it needs a provider of its own: "Use this app's provider" hands it the one
// set on the Providers screen (its key goes to the server sealed, never to
// this page). Each channel shows what answers, where the platform delivers,
// and its last messages.
import { useEffect, useState } from "preact/hooks";
import { api, errorMessage, type Channel, type ChannelConnection, type ServerProvider } from "./api";
import { ActionButton, Field, Notice, useNotice } from "./controls";
import { confirmAction, toast } from "./feedback";

/** An agent or a graph that can answer, as the pickers list them. */
interface Answerer {
  value: string;
  label: string;
}

const PLATFORMS = {
  telegram: { title: "Telegram", help: "Create a bot with @BotFather in Telegram, then paste the token it gives you." },
  whatsapp: { title: "WhatsApp", help: "From your Meta app's WhatsApp settings: the number's id, an access token, the app secret, and a verify token you choose." },
} as const;
type Kind = keyof typeof PLATFORMS;

const KIND_NAMES: Record<string, string> = { open_ai_compatible: "OpenAI-compatible", anthropic: "Anthropic", gemini: "Gemini" };

const STATUS_WORDS: Record<string, string> = {
  received: "Received",
  answered: "Answered",
  refused: "Refused",
  sent: "Sent",
  failed: "Not sent",
  window_closed: "Window closed",
};

function when(at: string): string {
  const time = new Date(at);
  return Number.isNaN(time.getTime()) ? at : time.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function Channels() {
  const [channels, setChannels] = useState<Channel[] | null>(null);
  const [provider, setProvider] = useState<ServerProvider | null | undefined>(undefined);
  const [answerers, setAnswerers] = useState<Answerer[]>([]);
  const [said, say] = useNotice();

  useEffect(() => {
    api.listChannels().then(setChannels, (error) => say(`The channels could not be read: ${errorMessage(error)}`));
    api.serverProvider().then(setProvider, () => setProvider(null));
    void (async () => {
      const [agents, graphs] = await Promise.all([api.listLibrary("agent"), api.listGraphs()]);
      setAnswerers([
        ...agents.map((agent) => ({ value: `agent:${agent.id}`, label: `Agent · ${agent.title}` })),
        ...graphs.map((graph) => ({ value: `graph:${graph.id}`, label: `Graph · ${graph.name}` })),
      ]);
    })().catch(() => setAnswerers([]));
  }, []);

  async function share(): Promise<void> {
    try {
      setProvider(await api.shareProviderWithServer());
      toast("The server now runs your bots with this app's provider.", { kind: "good" });
    } catch (error) {
      say(errorMessage(error));
    }
  }

  const labelOf = (channel: Channel) =>
    answerers.find((each) => each.value === `${channel.target}:${channel.target_id}`)?.label ?? `${channel.target} ${channel.target_id.slice(0, 8)}`;

  return (
    <>
      <header class="bar">
        <h1>Channels</h1>
      </header>
      <p class="muted lead">People chat with your agents in Telegram and WhatsApp. Each chat is a session you can open in the library; runs count against your plan.</p>
      <Notice said={said} />
      <section class="channel-provider" aria-label="Provider for channels" data-testid="server-provider">
        <div>
          <h2>Provider for channels and the API</h2>
          {provider === undefined ? (
            <p class="muted">Reading…</p>
          ) : provider ? (
            <p>
              {KIND_NAMES[provider.kind] ?? provider.kind} · <code>{provider.model}</code> at <code class="wrap">{provider.base_url}</code>
              {provider.has_api_key ? " · key kept on the server" : ""}
            </p>
          ) : (
            <p class="trial">Not set: the server cannot answer anyone until it has a provider.</p>
          )}
        </div>
        <ActionButton class={provider ? "quiet" : ""} onClick={share}>
          Use this app's provider
        </ActionButton>
      </section>
      {channels === null ? (
        <p class="muted">Reading the channels…</p>
      ) : (
        <div class="channel-cards">
          {(Object.keys(PLATFORMS) as Kind[]).map((kind) => {
            const channel = channels.find((each) => each.kind === kind) ?? null;
            return (
              <ChannelCard
                key={kind}
                kind={kind}
                channel={channel}
                answerers={answerers}
                answeredBy={channel ? labelOf(channel) : ""}
                changed={setChannels}
                say={say}
              />
            );
          })}
        </div>
      )}
    </>
  );
}

interface CardProps {
  kind: Kind;
  channel: Channel | null;
  answerers: Answerer[];
  answeredBy: string;
  changed: (channels: Channel[]) => void;
  say: (message: string | null, kind?: "bad" | "good") => void;
}

function ChannelCard({ kind, channel, answerers, answeredBy, changed, say }: CardProps) {
  const platform = PLATFORMS[kind];
  const [form, setForm] = useState<Record<string, string>>({});
  const [answerer, setAnswerer] = useState("");
  const set = (name: string) => (value: string) => setForm({ ...form, [name]: value });
  const chosen = answerer || answerers[0]?.value || "";

  async function connect(event: Event): Promise<void> {
    event.preventDefault();
    const [target, id] = chosen.split(":");
    if (!id) return say("Add an agent or a graph first: it is what answers.");
    const connection: ChannelConnection = {
      kind,
      agent_id: target === "agent" ? id : null,
      graph_id: target === "graph" ? id : null,
      bot_token: form.bot_token?.trim() || null,
      phone_number_id: form.phone_number_id?.trim() || null,
      display_number: form.display_number?.trim() || null,
      access_token: form.access_token?.trim() || null,
      app_secret: form.app_secret?.trim() || null,
      verify_token: form.verify_token?.trim() || null,
    };
    if (kind === "telegram" && !connection.bot_token) return say("Paste the bot's token from @BotFather.");
    if (kind === "whatsapp" && !(connection.phone_number_id && connection.access_token && connection.app_secret && connection.verify_token)) {
      return say("WhatsApp needs the number's id, an access token, the app secret and a verify token.");
    }
    try {
      changed(await api.connectChannel(connection));
      setForm({});
      toast(`${platform.title} is connected.`, { kind: "good" });
    } catch (error) {
      say(errorMessage(error));
    }
  }

  async function disconnect(): Promise<void> {
    const sure = await confirmAction({
      title: `Disconnect ${platform.title}?`,
      body: `${channel?.name ?? "The channel"} stops answering at once. Its chats stay in your library as sessions.`,
      confirm: "Disconnect",
      danger: true,
    });
    if (!sure) return;
    try {
      changed(await api.disconnectChannel(kind));
      toast(`${platform.title} is disconnected.`);
    } catch (error) {
      say(errorMessage(error));
    }
  }

  return (
    <article class="channel-card" aria-label={platform.title} data-channel={kind}>
      <header class="channel-head">
        <h2>{platform.title}</h2>
        <span class={channel ? "badge" : "badge off"}>{channel ? "Connected" : "Not connected"}</span>
      </header>
      {channel ? (
        <>
          <dl class="channel-facts">
            <dt>Account</dt>
            <dd>{channel.name}</dd>
            <dt>Answers with</dt>
            <dd>{answeredBy}</dd>
            <dt>Webhook</dt>
            <dd>
              <code class="wrap">{channel.webhook_url ?? "—"}</code>
            </dd>
            <dt>Since</dt>
            <dd>{when(channel.connected_at)}</dd>
          </dl>
          <h3>Last messages</h3>
          {channel.last_messages.length === 0 ? (
            <p class="muted">No messages yet. Write to {channel.name} to try it.</p>
          ) : (
            <table class="admin-table channel-messages">
              <thead>
                <tr>
                  <th>When</th>
                  <th>Chat</th>
                  <th>Message</th>
                  <th>Status</th>
                </tr>
              </thead>
              <tbody>
                {channel.last_messages.map((message) => (
                  <tr data-direction={message.direction}>
                    <td class="nowrap">{when(message.at)}</td>
                    <td>{message.chat}</td>
                    <td>
                      <span class="muted">{message.direction === "in" ? "← " : "→ "}</span>
                      {message.text.length > 160 ? `${message.text.slice(0, 160)}…` : message.text}
                    </td>
                    <td title={message.detail ?? ""} data-status={message.status}>
                      {STATUS_WORDS[message.status] ?? message.status}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <div class="card-actions">
            <ActionButton class="quiet danger" onClick={disconnect}>
              Disconnect
            </ActionButton>
          </div>
        </>
      ) : (
        <form class="channel-form" aria-label={`Connect ${platform.title}`} onSubmit={connect}>
          <p class="muted">{platform.help}</p>
          <label class="field">
            <span>Answers with</span>
            <select name="answerer" aria-label="Answers with" value={chosen} onChange={(event) => setAnswerer(event.currentTarget.value)}>
              {answerers.length === 0 && <option value="">No agents or graphs yet</option>}
              {answerers.map((each) => (
                <option value={each.value}>{each.label}</option>
              ))}
            </select>
          </label>
          {kind === "telegram" ? (
            <Field label="Bot token" name="bot_token" type="password" autocomplete="off" value={form.bot_token ?? ""} onValue={set("bot_token")} />
          ) : (
            <>
              <Field label="Phone number ID" name="phone_number_id" autocomplete="off" value={form.phone_number_id ?? ""} onValue={set("phone_number_id")} />
              <Field label="Number shown to people" name="display_number" autocomplete="off" placeholder="+1 555 010 0000" value={form.display_number ?? ""} onValue={set("display_number")} />
              <Field label="Access token" name="access_token" type="password" autocomplete="off" value={form.access_token ?? ""} onValue={set("access_token")} />
              <Field label="App secret" name="app_secret" type="password" autocomplete="off" value={form.app_secret ?? ""} onValue={set("app_secret")} />
              <Field label="Verify token" name="verify_token" autocomplete="off" value={form.verify_token ?? ""} onValue={set("verify_token")} />
            </>
          )}
          <div class="actions">
            <button type="submit">Connect {platform.title}</button>
          </div>
        </form>
      )}
    </article>
  );
}
