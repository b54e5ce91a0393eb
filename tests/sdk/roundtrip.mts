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

const deleted = await asAlice.DELETE("/api/{user_id}/tasks/{task_id}", where);
check(deleted.response.status === 204, `delete: ${deleted.response.status}`);
const gone = await asAlice.GET("/api/{user_id}/tasks/{task_id}", where);
check(gone.response.status === 404, "deleted task is still there");

console.log(JSON.stringify({ created: task.id, problem: problem.errors?.[0]?.field }));
