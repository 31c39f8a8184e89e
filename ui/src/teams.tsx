// The Teams screen: the teams you belong to, a team's members with their
// roles, invitations by email, and joining with an invitation's code or
// link. What a role may do is the server's to decide; this screen offers
// only what your role allows and shows the server's reason when it refuses.
import { useEffect, useState } from "preact/hooks";
import { api, errorMessage, type Team, type TeamPeople } from "./api";
import { ActionButton, Field, Notice, useNotice } from "./controls";
import { confirmAction, toast } from "./feedback";

const ROLES = ["owner", "admin", "editor", "viewer"] as const;
type Role = (typeof ROLES)[number];

const ROLE_WORDS: Record<Role, { title: string; help: string }> = {
  owner: { title: "Owner", help: "Everything, billing and other owners included" },
  admin: { title: "Admin", help: "Invites and manages editors and viewers" },
  editor: { title: "Editor", help: "Edits graphs and the library, runs agents" },
  viewer: { title: "Viewer", help: "Opens and follows everything, changes nothing" },
};

/** The roles someone holding `role` may hand out (the server's rule). */
function rolesGivenBy(role: string): Role[] {
  if (role === "owner") return [...ROLES];
  if (role === "admin") return ["editor", "viewer"];
  return [];
}

function roleTitle(role: string): string {
  return ROLE_WORDS[role as Role]?.title ?? role;
}

function day(at: string): string {
  const time = new Date(at);
  return Number.isNaN(time.getTime()) ? at : time.toLocaleDateString(undefined, { dateStyle: "medium" });
}

/** `invitation`: a code an orrery://invite link brought, offered to join. */
export function Teams({ invitation = null }: { invitation?: string | null }) {
  const [teams, setTeams] = useState<Team[] | null>(null);
  const [chosen, choose] = useState<string | null>(null);
  const [name, setName] = useState("");
  const [code, setCode] = useState(invitation ?? "");
  const [said, say] = useNotice();

  useEffect(() => {
    api.listTeams().then(
      (list) => {
        setTeams(list);
        choose((current) => current ?? list[0]?.id ?? null);
      },
      (error) => say(`Your teams could not be read: ${errorMessage(error)}`),
    );
  }, []);

  async function create(event: Event): Promise<void> {
    event.preventDefault();
    if (!name.trim()) return say("Give the team a name.");
    try {
      const list = await api.createTeam(name.trim());
      setTeams(list);
      const made = list.find((team) => team.name === name.trim() && team.role === "owner");
      if (made) choose(made.id);
      setName("");
      say(null);
      toast(`${name.trim()} is ready. Invite people to it.`, { kind: "good" });
    } catch (error) {
      say(errorMessage(error));
    }
  }

  async function join(event: Event): Promise<void> {
    event.preventDefault();
    if (!code.trim()) return say("Paste the link or the code from the invitation mail.");
    try {
      const joined = await api.acceptTeamInvitation(code.trim());
      const list = await api.listTeams();
      setTeams(list);
      choose(joined.id);
      setCode("");
      say(null);
      toast(`You joined ${joined.name} as ${roleTitle(joined.role).toLowerCase()}.`, { kind: "good" });
    } catch (error) {
      say(errorMessage(error));
    }
  }

  const team = teams?.find((each) => each.id === chosen) ?? null;

  return (
    <>
      <header class="bar">
        <h1>Teams</h1>
      </header>
      <p class="muted lead">A team shares its graphs, agents and prompts. Everyone edits the same graph live; each role decides who may change what.</p>
      <Notice said={said} />
      <div class="teams-layout">
        <aside class="team-side" aria-label="Your teams">
          {teams === null ? (
            <p class="muted">Reading your teams…</p>
          ) : teams.length === 0 ? (
            <p class="muted" data-testid="no-teams">You are not in a team yet. Create one, or join with an invitation.</p>
          ) : (
            <ul class="team-list" role="list">
              {teams.map((each) => (
                <li>
                  <button
                    type="button"
                    class={each.id === chosen ? "team-pick chosen" : "team-pick"}
                    aria-pressed={each.id === chosen}
                    onClick={() => choose(each.id)}
                  >
                    <span class="team-name">{each.name}</span>
                    <span class="muted">
                      {roleTitle(each.role)} · {each.members} {each.members === 1 ? "member" : "members"}
                    </span>
                  </button>
                </li>
              ))}
            </ul>
          )}
          <form class="team-form" aria-label="New team" onSubmit={create}>
            <h2>New team</h2>
            <Field label="Team name" name="team_name" placeholder="Research" maxLength={100} value={name} onValue={setName} />
            <button type="submit">Create team</button>
          </form>
          <form class="team-form" aria-label="Join a team" onSubmit={join}>
            <h2>Join a team</h2>
            {invitation && code === invitation && <p class="muted small">An invitation link opened this. Join to accept it.</p>}
            <Field label="Invitation link or code" name="invitation_code" placeholder="orrery://invite/…" autocomplete="off" value={code} onValue={setCode} />
            <button type="submit" class="quiet">
              Join
            </button>
          </form>
        </aside>
        {team ? (
          <TeamPanel key={team.id} team={team} say={say} left={(list) => {
            setTeams(list);
            choose(list[0]?.id ?? null);
          }} />
        ) : (
          teams !== null && teams.length > 0 && <p class="muted">Choose a team.</p>
        )}
      </div>
    </>
  );
}

interface PanelProps {
  team: Team;
  say: (message: string | null, kind?: "bad" | "good") => void;
  left: (teams: Team[]) => void;
}

function TeamPanel({ team, say, left }: PanelProps) {
  const [people, setPeople] = useState<TeamPeople | null>(null);
  const [email, setEmail] = useState("");
  const given = rolesGivenBy(people?.role ?? team.role);
  const [role, setRole] = useState<Role>("editor");
  const [me, setMe] = useState<string | null>(null);
  const inviteRole: Role = given.includes(role) ? role : given[given.length - 1] ?? "viewer";

  useEffect(() => {
    api.teamPeople(team.id).then(setPeople, (error) => say(`The team's members could not be read: ${errorMessage(error)}`));
    api.accountState().then((state) => setMe(state.account?.id ?? null), () => setMe(null));
  }, [team.id]);

  async function invite(event: Event): Promise<void> {
    event.preventDefault();
    if (!email.trim()) return say("Type the address to invite.");
    try {
      setPeople(await api.inviteToTeam(team.id, email.trim(), inviteRole));
      toast(`Invitation sent to ${email.trim()}.`, { kind: "good" });
      setEmail("");
      say(null);
    } catch (error) {
      say(errorMessage(error));
    }
  }

  async function changeRole(user: string, to: string): Promise<void> {
    try {
      setPeople(await api.changeTeamRole(team.id, user, to));
      say(null);
    } catch (error) {
      say(errorMessage(error));
      setPeople(await api.teamPeople(team.id));
    }
  }

  async function remove(user: string, label: string): Promise<void> {
    const leaving = user === me;
    const sure = await confirmAction({
      title: leaving ? `Leave ${team.name}?` : `Remove ${label}?`,
      body: leaving
        ? "You lose access to its graphs and library at once. Your devices keep a read-only copy of what they had."
        : `${label} loses access at once, live edits included. Their devices keep a read-only copy of what they had.`,
      confirm: leaving ? "Leave team" : "Remove",
      danger: true,
    });
    if (!sure) return;
    try {
      const teams = await api.removeTeamMember(team.id, user);
      if (leaving) {
        left(teams);
        toast(`You left ${team.name}.`);
      } else {
        setPeople(await api.teamPeople(team.id));
        toast(`${label} was removed from ${team.name}.`);
      }
      say(null);
    } catch (error) {
      say(errorMessage(error));
    }
  }

  async function takeBack(invitation: string, to: string): Promise<void> {
    try {
      setPeople(await api.revokeTeamInvitation(team.id, invitation));
      toast(`The invitation to ${to} was taken back.`);
    } catch (error) {
      say(errorMessage(error));
    }
  }

  const myRole = people?.role ?? team.role;
  const manages = (theirs: string) => myRole === "owner" || (myRole === "admin" && (theirs === "editor" || theirs === "viewer"));

  return (
    <section class="team-panel" aria-label={team.name} data-testid="team-panel">
      <header class="channel-head">
        <h2>{team.name}</h2>
        <span class="badge" data-role={myRole}>
          You: {roleTitle(myRole)}
        </span>
      </header>
      {people === null ? (
        <p class="muted">Reading the members…</p>
      ) : (
        <>
          <table class="admin-table team-members" aria-label="Members">
            <thead>
              <tr>
                <th>Member</th>
                <th>Role</th>
                <th class="joined">Joined</th>
                <th>
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {people.members.map((member) => (
                <tr data-member={member.email}>
                  <td>
                    <span class="team-name">{member.name}</span>
                    {member.user_id === me && <span class="muted"> (you)</span>}
                    <br />
                    <span class="muted">{member.email}</span>
                  </td>
                  <td>
                    {manages(member.role) && member.user_id !== me ? (
                      <select
                        aria-label={`Role of ${member.name}`}
                        value={member.role}
                        onChange={(event) => void changeRole(member.user_id, event.currentTarget.value)}
                      >
                        {(myRole === "owner" ? ROLES : (["admin", "editor", "viewer"] as Role[]).filter((each) => each !== "admin" || member.role === "admin")).map((each) => (
                          <option value={each}>{ROLE_WORDS[each].title}</option>
                        ))}
                      </select>
                    ) : (
                      roleTitle(member.role)
                    )}
                  </td>
                  <td class="nowrap joined">{day(member.added_at)}</td>
                  <td class="row-actions">
                    {member.user_id === me ? (
                      <ActionButton class="quiet" onClick={() => remove(member.user_id, member.name)}>
                        Leave
                      </ActionButton>
                    ) : (
                      manages(member.role) && (
                        <ActionButton class="quiet danger" onClick={() => remove(member.user_id, member.name)}>
                          Remove
                        </ActionButton>
                      )
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {given.length > 0 && (
            <>
              <h3>Invitations</h3>
              {people.invitations.length === 0 ? (
                <p class="muted">No invitations waiting.</p>
              ) : (
                <ul class="team-invitations" role="list" aria-label="Pending invitations">
                  {people.invitations.map((invitation) => (
                    <li data-invitation={invitation.email}>
                      <span>
                        {invitation.email} <span class="muted">· {roleTitle(invitation.role)} · until {day(invitation.expires_at)}</span>
                      </span>
                      <ActionButton class="quiet" onClick={() => takeBack(invitation.id, invitation.email)}>
                        Take back
                      </ActionButton>
                    </li>
                  ))}
                </ul>
              )}
              <form class="team-invite" aria-label="Invite someone" noValidate onSubmit={invite}>
                <Field label="Email address" name="invite_email" type="email" placeholder="name@example.com" autocomplete="off" value={email} onValue={setEmail} />
                <label class="field">
                  <span>Role</span>
                  <select name="invite_role" aria-label="Role" value={inviteRole} onChange={(event) => setRole(event.currentTarget.value as Role)}>
                    {given.map((each) => (
                      <option value={each} title={ROLE_WORDS[each].help}>
                        {ROLE_WORDS[each].title}
                      </option>
                    ))}
                  </select>
                </label>
                <button type="submit">Send invitation</button>
              </form>
              <p class="muted small">{ROLE_WORDS[inviteRole].help}. The link works once, for that address, for 7 days.</p>
            </>
          )}
        </>
      )}
    </section>
  );
}
