// A frontend's use of the API, through a client generated from the spec (openapi-typescript types,
// openapi-fetch calls). It type-checks under `tsc --strict`; run with node, it walks a task's life.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./generated/schema.js";

type Task = components["schemas"]["Task"];
type Problem = components["schemas"]["Problem"];

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

function clientFor(token: string) {
  const client = createClient<paths>({ baseUrl: env("BASE_URL") });
  const auth: Middleware = {
    onRequest({ request }) {
      request.headers.set("Authorization", `Bearer ${token}`);
      return request;
    },
  };
  client.use(auth);
  return client;
}

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

const alice = env("ALICE");
const bob = env("BOB");
const asAlice = clientFor(env("ALICE_TOKEN"));
const asBob = clientFor(env("BOB_TOKEN"));

const created = await asAlice.POST("/api/{user_id}/tasks", {
  params: { path: { user_id: alice } },
  body: { title: "Ship the SDK", description: "from TypeScript" },
});
check(created.response.status === 201 && created.data !== undefined, `create: ${created.response.status}`);
const task: Task = created.data;
const where = { params: { path: { user_id: alice, task_id: task.id } } };

const listed = await asAlice.GET("/api/{user_id}/tasks", {
  params: { path: { user_id: alice }, query: { status: "pending", sort: "-created_at", limit: 10 } },
});
check(listed.data?.tasks.some((t) => t.id === task.id) === true, "list does not show the new task");

const fetched = await asAlice.GET("/api/{user_id}/tasks/{task_id}", where);
check(fetched.data?.title === "Ship the SDK", "get returned another task");

const toggled = await asAlice.PATCH("/api/{user_id}/tasks/{task_id}/complete", where);
check(toggled.data?.completed === true, "toggle did not complete the task");

const updated = await asAlice.PUT("/api/{user_id}/tasks/{task_id}", { ...where, body: { title: "Shipped" } });
check(updated.data?.title === "Shipped" && updated.data.completed, "update lost a field");

const stolen = await asBob.GET("/api/{user_id}/tasks/{task_id}", {
  params: { path: { user_id: bob, task_id: task.id } },
});
check(stolen.response.status === 404 && stolen.data === undefined, `another user's task: ${stolen.response.status}`);

const bad = await asAlice.POST("/api/{user_id}/tasks", {
  params: { path: { user_id: alice } },
  body: { title: "   " },
});
const problem: Problem | undefined = bad.error;
check(bad.response.status === 400 && problem?.status === 400, `blank title: ${bad.response.status}`);
check(bad.response.headers.get("content-type") === "application/problem+json", "400 is not a problem document");

// The task model: every new field on create, each filter, and a walk through the pages of a sort.
const planned = await asAlice.POST("/api/{user_id}/tasks", {
  params: { path: { user_id: alice } },
  body: {
    title: "Renew the PASSPORT",
    description: "before the trip",
    due_at: "2026-12-02T18:00:00+01:00",
    priority: "high",
    labels: ["errand", "Travel", "travel"],
  },
});
check(planned.response.status === 201 && planned.data !== undefined, `create planned: ${planned.response.status}`);
const plannedTask: Task = planned.data;
check(plannedTask.due_at === "2026-12-02T17:00:00Z", `due_at not in UTC: ${plannedTask.due_at}`);
check(JSON.stringify(plannedTask.labels) === '["errand","Travel"]', `labels: ${plannedTask.labels}`);
check(plannedTask.priority === "high" && plannedTask.completed_at === null, "priority or completed_at");
for (const [n, due] of ["2026-12-05T09:00:00Z", null, "2026-12-01T09:00:00Z"].entries()) {
  const made = await asAlice.POST("/api/{user_id}/tasks", {
    params: { path: { user_id: alice } },
    body: { title: `Step ${n}`, due_at: due, priority: "low", labels: ["trip"] },
  });
  check(made.response.status === 201, `create step ${n}: ${made.response.status}`);
}
const only = async (query: Record<string, unknown>): Promise<string[]> => {
  const found = await asAlice.GET("/api/{user_id}/tasks", { params: { path: { user_id: alice }, query } });
  check(found.data !== undefined, `list ${JSON.stringify(query)}: ${found.response.status}`);
  check(found.data.count === found.data.tasks.length, "count does not follow the filters");
  return found.data.tasks.map((t) => t.title).sort();
};
const same = (a: string[], b: string[]) => JSON.stringify(a) === JSON.stringify(b);
check(same(await only({ q: "passport TRIP" }), ["Renew the PASSPORT"]), "q");
check(same(await only({ label: ["TRAVEL", "errand"] }), ["Renew the PASSPORT"]), "label");
check(same(await only({ priority: ["high"] }), ["Renew the PASSPORT"]), "priority");
check(same(await only({ due_after: "2026-12-02T17:00:00Z" }), ["Renew the PASSPORT", "Step 0"]), "due_after");
check(same(await only({ due_before: "2026-12-02T17:00:00Z" }), ["Step 2"]), "due_before");
const walked: string[] = [];
let cursor: string | undefined;
do {
  const page = await asAlice.GET("/api/{user_id}/tasks", {
    params: { path: { user_id: alice }, query: { sort: "due_at", limit: 1, label: ["trip"], cursor } },
  });
  check(page.data !== undefined, `sort page: ${page.response.status}`);
  walked.push(...page.data.tasks.map((t) => t.title));
  cursor = page.data.next_cursor ?? undefined;
} while (cursor !== undefined);
check(same(walked, ["Step 2", "Step 0", "Step 1"]), `sort by due_at, undated last: ${walked}`);
const tooMany = await asAlice.POST("/api/{user_id}/tasks", {
  params: { path: { user_id: alice } },
  body: { title: "Labelled", labels: Array.from({ length: 21 }, (_, n) => `label ${n}`) },
});
check(tooMany.response.status === 400 && tooMany.error?.errors?.[0]?.field === "labels", "a 21st label");

// Clients that race, retry and sync: If-Match, Idempotency-Key and delta sync.
const etag = fetched.response.headers.get("etag");
check(etag !== null && etag.startsWith('"'), `get carries no ETag: ${etag}`);
const stale = await asAlice.PUT("/api/{user_id}/tasks/{task_id}", {
  params: { path: where.params.path, header: { "If-Match": etag } },
  body: { title: "Overwritten by a stale tab" },
});
check(stale.response.status === 412 && stale.error?.status === 412, `stale If-Match: ${stale.response.status}`);
const fresh = await asAlice.GET("/api/{user_id}/tasks/{task_id}", where);
const matched = await asAlice.PUT("/api/{user_id}/tasks/{task_id}", {
  params: { path: where.params.path, header: { "If-Match": fresh.response.headers.get("etag") ?? "" } },
  body: { description: "edited in the only fresh tab" },
});
check(matched.response.status === 200, `matching If-Match: ${matched.response.status}`);
const once = { params: { path: { user_id: alice }, header: { "Idempotency-Key": `ts-${task.id}` } },
               body: { title: "Sent twice, stored once" } };
const first = await asAlice.POST("/api/{user_id}/tasks", once);
const retried = await asAlice.POST("/api/{user_id}/tasks", once);
check(first.response.status === 201 && retried.response.status === 201, "idempotent create");
check(first.data?.id === retried.data?.id, "a retry with the same Idempotency-Key created another task");
const start = await asAlice.GET("/api/{user_id}/changes", { params: { path: { user_id: alice } } });
check(start.data !== undefined && !start.data.has_more, `first sync: ${start.response.status}`);
await asAlice.DELETE("/api/{user_id}/tasks/{task_id}", {
  params: { path: { user_id: alice, task_id: first.data?.id ?? "" } },
});
const delta = await asAlice.GET("/api/{user_id}/changes", {
  params: { path: { user_id: alice }, query: { since: start.data.next_token } },
});
check(JSON.stringify(delta.data?.deleted) === JSON.stringify([first.data?.id]), "sync did not report the delete");

const deleted = await asAlice.DELETE("/api/{user_id}/tasks/{task_id}", where);
check(deleted.response.status === 204, `delete: ${deleted.response.status}`);
const gone = await asAlice.GET("/api/{user_id}/tasks/{task_id}", where);
check(gone.response.status === 404, "deleted task is still there");

console.log(JSON.stringify({ created: task.id, problem: problem.errors?.[0]?.field }));
