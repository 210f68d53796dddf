import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { ConfigForm, serverErrorSchema } from "./ConfigForm";

const schema = {
  type: "object",
  properties: {
    api_key: { type: "string", title: "API key", secret: true },
    region: { type: "string", title: "Region", enum: ["eu", "us"] },
    endpoint: { type: "object", title: "Endpoint", properties: { token: { type: "string", title: "Token", writeOnly: true } } },
  },
  required: ["api_key"],
};

describe("ConfigForm", () => {
  it("renders secret fields, also nested ones, as password inputs", () => {
    render(<ConfigForm id="cfg" schema={schema} formData={{}} onSubmit={() => {}} />);
    expect(screen.getByLabelText(/API key/)).toHaveAttribute("type", "password");
    expect(screen.getByLabelText(/Token/)).toHaveAttribute("type", "password");
    expect(screen.getByLabelText(/Region/).tagName).toBe("SELECT");
  });

  it("shows the server's field errors on the fields they name", () => {
    render(
      <ConfigForm
        id="cfg"
        schema={schema}
        formData={{}}
        serverErrors={[
          { field: "api_key", message: "is required" },
          { field: "endpoint.token", message: "must be at least 8 characters" },
        ]}
        onSubmit={() => {}}
      />,
    );
    const keyField = screen.getByLabelText(/API key/).closest(".form-group") as HTMLElement;
    expect(keyField).toHaveTextContent("is required");
    const tokenField = screen.getByLabelText(/Token/).closest(".form-group") as HTMLElement;
    expect(tokenField).toHaveTextContent("must be at least 8 characters");
    expect(keyField).not.toHaveTextContent("must be at least 8 characters");
  });

  it("validates against the schema (Draft 2020-12) before submitting", async () => {
    const onSubmit = vi.fn();
    render(<ConfigForm id="cfg" schema={schema} formData={{}} onSubmit={onSubmit} />);
    await userEvent.click(screen.getByRole("button", { name: "Submit" }));
    expect(onSubmit).not.toHaveBeenCalled();
    await userEvent.type(screen.getByLabelText(/API key/), "s3cret");
    await userEvent.click(screen.getByRole("button", { name: "Submit" }));
    expect(onSubmit).toHaveBeenCalledWith(expect.objectContaining({ api_key: "s3cret" }));
  });

  it("maps dotted paths and whole-form errors into rjsf's error schema", () => {
    expect(serverErrorSchema([{ field: "a.b", message: "bad" }, { field: "", message: "whole" }])).toEqual({
      a: { b: { __errors: ["bad"] } },
      __errors: ["whole"],
    });
  });
});
