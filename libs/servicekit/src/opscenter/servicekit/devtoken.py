"""Prints a local (HS256) bearer token; `make token ROLES=tenant_admin TENANT=t1` runs it.
Refuses to run when the settings use an asymmetric algorithm."""

from __future__ import annotations

import argparse

from opscenter.servicekit.auth import mint_dev_token
from opscenter.servicekit.settings import ServiceSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sub", default=None)
    parser.add_argument("--tenant", default=None)
    parser.add_argument("--roles", default="member", help="comma-separated")
    parser.add_argument("--publisher", default=None)
    parser.add_argument("--ttl", type=int, default=3600)
    args = parser.parse_args()
    print(
        mint_dev_token(
            ServiceSettings(),
            sub=args.sub,
            tenant_id=args.tenant,
            roles=[r.strip() for r in args.roles.split(",") if r.strip()],
            publisher_id=args.publisher,
            ttl_s=args.ttl,
        )
    )


if __name__ == "__main__":
    main()
