// A front end's calls to cosgate, typed by schema.d.ts (generated from
// docs/v1.yml with openapi-typescript) and made with openapi-fetch. CI
// compiles it with `tsc --strict` and runs it against the server:
//   node dist/client.js BASE_URL CLIENT_ID:CLIENT_SECRET
import createClient from "openapi-fetch";
import type { paths, components } from "./schema.js";

// Node's globals this file uses (no @types/node needed for two names).
declare const process: { argv: string[]; exitCode?: number };

type Upload = components["schemas"]["Upload"];
type ApiError = components["schemas"]["Error"];

const [base, oauthClient] = process.argv.slice(2);
if (!base || !oauthClient) {
  throw new Error("usage: node dist/client.js BASE_URL CLIENT_ID:CLIENT_SECRET");
}
const api = createClient<paths>({ baseUrl: base });
const basic = "Basic " + btoa(oauthClient);

function check(what: string, ok: boolean, detail: unknown): void {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
  if (!ok) {
    console.error(detail);
    process.exitCode = 1;
  }
}

// Log in (development code: no WeChat needed).
const login = await api.POST("/auth/oauth/token", {
  headers: { Authorization: basic },
  body: { code: "dev-typescript" },
});
check("log in", login.response.status === 200 && login.data !== undefined, login.error);
const token: string = login.data?.access_token ?? "";
const bearer = { Authorization: `Bearer ${token}` };

// An upload session: the body is checked against NewUpload at compile time.
const created = await api.POST("/v1/uploads", {
  headers: bearer,
  body: { filename: "cat.jpg", size_bytes: 1024, content_type: "image/jpeg" },
});
const upload: Upload | undefined = created.data;
check(
  "create an upload session",
  created.response.status === 201 && upload?.status === "pending" && upload.put !== undefined,
  created.error,
);

// Read it back by id, a path parameter typed by the spec.
const id = upload?.id ?? "";
const read = await api.GET("/v1/uploads/{upload_id}", {
  headers: bearer,
  params: { path: { upload_id: id } },
});
check("read it back", read.data?.id === id && read.data.size_bytes === 1024, read.error);

// An error answer is typed as the spec's Error.
const missing = await api.GET("/v1/uploads/{upload_id}", {
  headers: bearer,
  params: { path: { upload_id: "up_000000000000000000000000" } },
});
const error: ApiError | undefined = missing.error;
check(
  "an unknown upload is 404 upload_not_found",
  missing.response.status === 404 && error?.error_code === "upload_not_found",
  missing.error,
);

// List them: a query parameter typed by the spec.
const listed = await api.GET("/v1/uploads", {
  headers: bearer,
  params: { query: { status: "pending", limit: 10 } },
});
check(
  "list the pending ones",
  listed.data?.uploads.some((u) => u.id === id) === true,
  listed.error,
);
