// The management window's Tenants: every tenant with its members, what it
// holds and its usage this period, searched by name or a member's address.
import { useEffect, useState } from "preact/hooks";
import { api, errorMessage, type AdminTenant } from "./api";
import { Notice, Pages, SearchBox, useNotice } from "./controls";

const PER_PAGE = 25;

function count(value: number): string {
  return value.toLocaleString("en-US");
}

export function Tenants() {
  const [query, setQuery] = useState("");
  const [page, setPage] = useState(1);
  const [answer, setAnswer] = useState<{ tenants: AdminTenant[]; total: number; period: string } | null>(null);
  const [said, say] = useNotice();
  useEffect(() => {
    let current = true;
    api
      .adminListTenants(query.trim() || null, page)
      .then((found) => current && setAnswer({ tenants: found.tenants, total: found.total, period: found.period }))
      .catch((error: unknown) => current && say(errorMessage(error)));
    return () => {
      current = false;
    };
  }, [query, page]);
  const pages = answer ? Math.max(1, Math.ceil(answer.total / PER_PAGE)) : 1;
  return (
    <section aria-labelledby="tenants-title">
      <div class="bar">
        <h1 id="tenants-title">Tenants</h1>
        {answer && <span class="counts" data-testid="tenant-count">{`${count(answer.total)} ${answer.total === 1 ? "tenant" : "tenants"}`}</span>}
      </div>
      <SearchBox
        value={query}
        placeholder="Name or a member's address"
        search={(text) => {
          setQuery(text);
          setPage(1);
        }}
      />
      <Notice said={said} testId="tenants-notice" />
      {answer && answer.tenants.length === 0 ? (
        <p class="empty">{query.trim() ? "No tenant matches." : "No tenant yet."}</p>
      ) : (
        answer && (
          <table class="admin-table" aria-label="Tenants">
            <thead>
              <tr>
                <th>Tenant</th>
                <th>Members</th>
                <th>Graphs</th>
                <th>Library</th>
                <th>{`Runs in ${answer.period}`}</th>
                <th>Tokens</th>
                <th>API calls</th>
              </tr>
            </thead>
            <tbody>
              {answer.tenants.map((tenant) => (
                <tr data-tenant={tenant.name}>
                  <td>
                    <strong>{tenant.name}</strong>
                    <div class="counts">{`since ${tenant.created_at.slice(0, 10)}`}</div>
                  </td>
                  <td>
                    {tenant.members.map((member) => (
                      <div>
                        {member.email}
                        {member.role === "admin" && <span class="counts"> · admin</span>}
                      </div>
                    ))}
                  </td>
                  <td>{count(tenant.graphs)}</td>
                  <td>{count(tenant.documents)}</td>
                  <td>{count(tenant.runs)}</td>
                  <td>{count(tenant.tokens)}</td>
                  <td>{count(tenant.api_calls)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      )}
      <Pages page={page} pages={pages} go={setPage} />
    </section>
  );
}
