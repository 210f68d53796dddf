// The console's names for the API's shapes, taken from the generated OpenAPI types: when a
// service changes a schema the console uses, `tsc` fails here or where the field is read.
import type { components as Catalog } from "./generated/catalog";
import type { components as Installer } from "./generated/installer";
import type { components as Reviews } from "./generated/reviews";

export type MarketplacePage = Catalog["schemas"]["MarketplacePage"];
export type PluginSummary = Catalog["schemas"]["PluginSummary"];
export type PluginDetail = Catalog["schemas"]["PluginDetail"];
export type VersionDetail = Catalog["schemas"]["VersionDetail"];
export type VersionPage = Catalog["schemas"]["VersionPage"];
export type VersionRead = Catalog["schemas"]["VersionRead"];
export type Category = Catalog["schemas"]["Category"];
export type PluginType = Catalog["schemas"]["PluginType"];

export type InstallCreate = Installer["schemas"]["InstallCreate"];
export type Permission = NonNullable<InstallCreate["accept_permissions"]>[number];
export type DryRunPlan = Installer["schemas"]["DryRunPlan"];
export type PlanRead = Installer["schemas"]["PlanRead"];
export type PlanItem = Installer["schemas"]["PlanItemRead"];
export type FieldError = Installer["schemas"]["FieldErrorRead"];
export type InstallAccepted = Installer["schemas"]["InstallAccepted"];
export type Installation = Installer["schemas"]["InstallationRead"];
export type InstallationPage = Installer["schemas"]["InstallationPage"];
export type Problem = Installer["schemas"]["Problem"];

export type ReviewPage = Reviews["schemas"]["ReviewPage"];
export type ReviewRead = Reviews["schemas"]["ReviewRead"];
export type ReviewWrite = Reviews["schemas"]["ReviewWrite"];
export type ReviewSort = Reviews["schemas"]["ReviewSort"];

import type { components as Hooks } from "./generated/hooks";
export type HookEventList = Hooks["schemas"]["HookEventList"];
export type PluginCreate = Catalog["schemas"]["PluginCreate"];
export type PluginRead = Catalog["schemas"]["PluginRead"];
export type PluginPage = Catalog["schemas"]["PluginPage"];
export type VersionPublished = Catalog["schemas"]["VersionPublished"];
export type ModerationLog = Catalog["schemas"]["ModerationLog"];
export type UpgradeCreate = Installer["schemas"]["UpgradeCreate"];
export type Cascade = Installer["schemas"]["UninstallCreate"]["cascade"];

export type Delivery = Hooks["schemas"]["DeliveryRead"];
export type DeliveryPage = Hooks["schemas"]["DeliveryPage"];
export type DeliveryStatus = Delivery["status"];
export type ReplayWindow = Hooks["schemas"]["ReplayWindow"];
export type ReplayAccepted = Hooks["schemas"]["ReplayAccepted"];
export type SecretRotated = Hooks["schemas"]["SecretRotated"];

import type { components as Analytics } from "./generated/analytics";
export type PluginAnalytics = Analytics["schemas"]["PluginAnalytics"];
export type SeriesPoint = Analytics["schemas"]["SeriesPoint"];
export type RevenueAmounts = Analytics["schemas"]["RevenueAmounts"];

export type ReviewModerationLog = Reviews["schemas"]["ModerationLog"];
export type HideRequest = Reviews["schemas"]["HideRequest"];

export type PublisherKeyList = Catalog["schemas"]["PublisherKeyList"];
export type PublisherKeyRead = Catalog["schemas"]["PublisherKeyRead"];
export type YankedVersion = Catalog["schemas"]["YankedVersion"];
export type DeprecateRequest = Catalog["schemas"]["DeprecateRequest"];
export type AnalyticsOverview = Analytics["schemas"]["AnalyticsOverview"];
export type RankedPlugin = Analytics["schemas"]["RankedPlugin"];
export type RankedByRevenue = Analytics["schemas"]["RankedByRevenue"];
