import { PolicyPack } from "@pulumi/policy";
import { policies } from "./rules.ts";

/** `pulumi preview --policy-pack pulumi/policy`: the least-privilege rules of rules.ts, run by the engine. */
new PolicyPack("tessera-least-privilege", { policies });
