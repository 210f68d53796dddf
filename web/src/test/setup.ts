import "@testing-library/jest-dom/vitest";
import { cleanup, configure } from "@testing-library/react";
import { afterEach } from "vitest";

afterEach(() => cleanup());

// findBy*/waitFor wait up to this long (the default 1 s is short on a loaded machine).
configure({ asyncUtilTimeout: 15_000 });
