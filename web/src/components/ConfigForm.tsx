// A plugin's configuration form, built from its version's config schema (JSON Schema, Draft
// 2020-12). Secret fields are password inputs whose value is never shown back; errors the
// server found are shown on the fields they name.
import Form from "@rjsf/core";
import type { ErrorSchema, RJSFSchema, UiSchema } from "@rjsf/utils";
import { customizeValidator } from "@rjsf/validator-ajv8";
import Ajv2020 from "ajv/dist/2020";
import type { ReactNode } from "react";
import type { FieldError } from "../api/types";

// "secret" is the manifest's own keyword (libs/contracts config_schema.py), not JSON Schema's.
export const validator = customizeValidator({
  AjvClass: Ajv2020,
  ajvOptionsOverrides: { keywords: ["secret"] },
});

type Schema = Record<string, unknown>;

function isSecret(prop: Schema): boolean {
  return prop.secret === true || prop.writeOnly === true || prop.format === "password";
}

/** uiSchema that renders every secret property (at any depth) as a password input. */
export function secretUiSchema(schema: Schema): UiSchema {
  const ui: UiSchema = {};
  const props = (schema.properties ?? {}) as Record<string, Schema>;
  for (const [name, prop] of Object.entries(props)) {
    if (typeof prop !== "object" || prop === null) continue;
    if (isSecret(prop)) ui[name] = { "ui:widget": "password", "ui:options": { autocomplete: "new-password" } };
    else if (prop.type === "object") ui[name] = secretUiSchema(prop);
  }
  return ui;
}

/** The server's field errors ("a.b" dotted paths; "" for the whole form) as rjsf errors. */
export function serverErrorSchema(errors: FieldError[]): ErrorSchema {
  const root: Record<string, unknown> = {};
  for (const { field, message } of errors) {
    let node = root;
    for (const part of field.split(".").filter(Boolean)) {
      node[part] = (node[part] as Record<string, unknown>) ?? {};
      node = node[part] as Record<string, unknown>;
    }
    node.__errors = [...((node.__errors as string[]) ?? []), message];
  }
  return root as ErrorSchema;
}

type Props = {
  id: string;
  schema: Schema;
  formData: Record<string, unknown>;
  serverErrors?: FieldError[];
  onChange?: (data: Record<string, unknown>) => void;
  onSubmit: (data: Record<string, unknown>) => void;
  children?: ReactNode;
};

export function ConfigForm({ id, schema, formData, serverErrors = [], onChange, onSubmit, children }: Props) {
  return (
    <Form
      idPrefix={id}
      schema={schema as RJSFSchema}
      uiSchema={{ ...secretUiSchema(schema), "ui:submitButtonOptions": { norender: children !== undefined } }}
      formData={formData}
      validator={validator}
      extraErrors={serverErrorSchema(serverErrors)}
      showErrorList={false}
      noHtml5Validate
      onChange={(e) => onChange?.((e.formData ?? {}) as Record<string, unknown>)}
      onSubmit={(e) => onSubmit((e.formData ?? {}) as Record<string, unknown>)}
    >
      {children}
    </Form>
  );
}
