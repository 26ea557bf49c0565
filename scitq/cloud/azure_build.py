"""Provides the request bodies of the `azure` provider, built from the SDK's model classes.

azure-mgmt-compute 39 sends a plain dict verbatim (no snake_case → camelCase translation), so every body is a
model: the JSON Azure receives is then the documented camelCase (`priority`, `evictionPolicy`, `customData`, ...).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scitq.cloud.azure import AzureConfig

__all__ = ["resource_group", "vnet", "public_ip", "nic", "virtual_machine", "random_password"]


def resource_group(region: str, tags: dict[str, str]) -> Any:
    from azure.mgmt.resource.resources import models as r
    return r.ResourceGroup(location=region, tags=tags)


def vnet(region: str, tags: dict[str, str]) -> Any:
    from azure.mgmt.network import models as n
    return n.VirtualNetwork(
        location=region, tags=tags,
        address_space=n.AddressSpace(address_prefixes=["10.0.0.0/16"]),
        subnets=[n.Subnet(name="workers", address_prefix="10.0.0.0/16")])


def public_ip(region: str, tags: dict[str, str]) -> Any:
    from azure.mgmt.network import models as n
    return n.PublicIPAddress(
        location=region, tags=tags, sku=n.PublicIPAddressSku(name="Standard"),
        public_ip_allocation_method="Static", public_ip_address_version="IPv4")


def nic(region: str, tags: dict[str, str], subnet_id: str, ip_id: str) -> Any:
    from azure.mgmt.network import models as n
    return n.NetworkInterface(
        location=region, tags=tags,
        ip_configurations=[n.NetworkInterfaceIPConfiguration(
            name="ipconfig1", subnet=n.Subnet(id=subnet_id), public_ip_address=n.PublicIPAddress(id=ip_id),
            private_ip_allocation_method="Dynamic")])


def virtual_machine(cfg: "AzureConfig", name: str, flavor: str, region: str, tags: dict[str, str], nic_id: str,
                    custom_data: str, password: str | None) -> Any:
    """The VM: Spot with Deallocate eviction and `cfg.max_price` when `cfg.spot`; disk and NIC deleted with it."""
    from azure.mgmt.compute import models as m
    publisher, offer, sku, version = (cfg.image.split(":") + ["latest"])[:4]
    if password is None:
        linux = m.LinuxConfiguration(
            disable_password_authentication=True,
            ssh=m.SshConfiguration(public_keys=[m.SshPublicKey(
                path=f"/home/{cfg.admin_user}/.ssh/authorized_keys", key_data=cfg.ssh_public_key)]))
    else:
        linux = m.LinuxConfiguration(disable_password_authentication=False)
    os_disk = m.OSDisk(name=f"{name}-osdisk", create_option="FromImage", delete_option="Delete",
                       managed_disk=m.ManagedDiskParameters(storage_account_type="Premium_LRS"))
    if cfg.os_disk_gb:
        os_disk.disk_size_gb = cfg.os_disk_gb
    spot: dict[str, Any] = {}
    if cfg.spot:
        spot = {"priority": "Spot", "eviction_policy": "Deallocate",
                "billing_profile": m.BillingProfile(max_price=cfg.max_price)}
    return m.VirtualMachine(
        location=region, tags=tags,
        hardware_profile=m.HardwareProfile(vm_size=flavor),
        storage_profile=m.StorageProfile(
            image_reference=m.ImageReference(publisher=publisher, offer=offer, sku=sku, version=version),
            os_disk=os_disk),
        os_profile=m.OSProfile(computer_name=name[:64], admin_username=cfg.admin_user, admin_password=password,
                               custom_data=custom_data, linux_configuration=linux),
        network_profile=m.NetworkProfile(network_interfaces=[m.NetworkInterfaceReference(
            id=nic_id, primary=True, delete_option="Delete")]),
        **spot)


def random_password() -> str:
    """A password nobody keeps, meeting Azure's complexity rule (used when no SSH key is configured)."""
    return "Aa1!" + secrets.token_urlsafe(24)
