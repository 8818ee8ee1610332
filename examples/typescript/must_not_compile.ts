// Lines the generated types must refuse: each `@ts-expect-error` fails the
// build if the line below it compiles (tsc -p tsconfig.refusals.json).
import createClient from "openapi-fetch";
import type { paths } from "./schema.js";

const api = createClient<paths>({ baseUrl: "http://127.0.0.1" });

export async function refusals(): Promise<void> {
  // A required field (size_bytes) left out.
  // @ts-expect-error
  await api.POST("/v1/uploads", { body: { filename: "a.jpg", content_type: "image/jpeg" } });

  // A field of the wrong type.
  // @ts-expect-error
  await api.POST("/v1/uploads", { body: { filename: "a.jpg", size_bytes: "10", content_type: "image/jpeg" } });

  // A path the contract does not have.
  // @ts-expect-error
  await api.GET("/v1/upload/{upload_id}", { params: { path: { upload_id: "x" } } });

  // A method the path does not have.
  // @ts-expect-error
  await api.PUT("/v1/uploads", { body: {} });

  // A path parameter left out.
  // @ts-expect-error
  await api.GET("/v1/uploads/{upload_id}", { params: { path: {} } });

  // A method the signer does not take.
  // @ts-expect-error
  await api.POST("/v1/qc_cos/authorization", { body: { method: "gett", key: "uploads/a/b.jpg" } });

  // An error code that does not exist (misspelt).
  const refused = await api.POST("/v1/uploads", { body: { filename: "a.jpg", size_bytes: 1, content_type: "image/jpeg" } });
  // @ts-expect-error
  if (refused.error?.error_code === "path_not_allowd") console.log("never");

  // A field an Upload does not have.
  const read = await api.GET("/v1/uploads/{upload_id}", { params: { path: { upload_id: "x" } } });
  // @ts-expect-error
  console.log(read.data?.sizeBytes);
}
