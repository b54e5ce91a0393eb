// A React Query frontend's client: orval's axios client, generated from the spec. It type-checks under
// `tsc --strict`; run with node, it calls every operation, toggling without a body as axios sends it
// (labelled application/x-www-form-urlencoded), and prints what it saw as one JSON line.
import axios, { type AxiosInstance } from "axios";
import { getTasksAPI, type Task } from "./generated/orval/tasks.mjs";

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

function instanceFor(token: string): AxiosInstance {
  return axios.create({
    baseURL: env("BASE_URL"),
    headers: { Authorization: `Bearer ${token}` },
    // The spec's arrays are exploded (label=a&label=b); axios would send label[]=a&label[]=b.
    paramsSerializer: { indexes: null },
    validateStatus: () => true, // the checks below read every status themselves
  });
}

const alice = env("ALICE");
const bob = env("BOB");
const asAlice = getTasksAPI(instanceFor(env("ALICE_TOKEN")));
const asBob = getTasksAPI(instanceFor(env("BOB_TOKEN")));
const seen: Record<string, number> = {};

const health = await asAlice.getHealth();
seen.get_health = health.status;
check(health.status === 200 && health.data.database === "ok", `health: ${health.status}`);

const key = `orval-${Date.now()}`;
const created = await asAlice.createTask(alice, {
  title: "Ship the orval client", due_at: "2026-12-24T18:00:00+01:00", priority: "high", labels: ["sdk", "Web"],
}, { headers: { "Idempotency-Key": key } });
seen.create_task = created.status;
check(created.status === 201, `create: ${created.status} ${JSON.stringify(created.data)}`);
const task: Task = created.data;
check(task.due_at === "2026-12-24T17:00:00Z" && task.labels.join() === "sdk,Web", "create lost a field");
const etag = String(created.headers["etag"]);
check(created.headers["x-request-id"] !== undefined, "no X-Request-ID");

const retried = await asAlice.createTask(alice, {
  title: "Ship the orval client", due_at: "2026-12-24T18:00:00+01:00", priority: "high", labels: ["sdk", "Web"],
}, { headers: { "Idempotency-Key": key } });
check(retried.status === 201 && retried.data.id === task.id, "a retried create made another task");

const listed = await asAlice.listTasks(alice, { label: ["sdk", "web"], priority: ["high", "medium"], sort: "due_at" });
seen.list_tasks = listed.status;
check(listed.status === 200 && listed.data.count === 1 && listed.data.tasks[0].id === task.id,
  `list: ${listed.status} ${JSON.stringify(listed.data)}`);

const fetched = await asAlice.getTask(alice, task.id);
seen.get_task = fetched.status;
check(fetched.status === 200 && fetched.data.title === task.title, "get returned another task");
const unchanged = await asAlice.getTask(alice, task.id, { headers: { "If-None-Match": etag } });
check(unchanged.status === 304, `If-None-Match: ${unchanged.status}`);

// No body: axios labels the PATCH application/x-www-form-urlencoded all the same.
const toggled = await asAlice.toggleTaskCompletion(alice, task.id);
seen.toggle_task_completion = toggled.status;
check(toggled.status === 200 && toggled.data.completed, `toggle: ${toggled.status} ${JSON.stringify(toggled.data)}`);
const set = await asAlice.toggleTaskCompletion(alice, task.id, { completed: false });
check(set.status === 200 && !set.data.completed, "toggle with a body did not set completed");

const stale = await asAlice.updateTask(alice, task.id, { title: "Too late" }, { headers: { "If-Match": etag } });
check(stale.status === 412, `update with a stale ETag: ${stale.status}`);
const updated = await asAlice.updateTask(alice, task.id, { title: "Shipped", labels: [] });
seen.update_task = updated.status;
check(updated.status === 200 && updated.data.title === "Shipped" && updated.data.labels.length === 0,
  "update lost a field");

const first = await asAlice.syncTasks(alice);
seen.sync_tasks = first.status;
check(first.status === 200 && first.data.changes.some((t) => t.id === task.id), "sync does not show the task");

const stolen = await asBob.getTask(bob, task.id);
check(stolen.status === 404, `another user's task: ${stolen.status}`);

const deleted = await asAlice.deleteTask(alice, task.id);
seen.delete_task = deleted.status;
check(deleted.status === 204, `delete: ${deleted.status}`);
const since = await asAlice.syncTasks(alice, { since: first.data.next_token });
check(since.status === 200 && since.data.deleted.includes(task.id), "sync does not show the deletion");

console.log(JSON.stringify(seen));
