"""The built-in demo data set: about fifty small CI builds in the real on-disk layout.

Why it exists: a fresh appliance has nothing to show, and the real corpus is large and
a decade old. The demo gives the UI, the recheck classifier and the tests a small,
deterministic set of builds (a few MB, generated in about a second) whose logs are in
the exact formats OpenStack CI writes — oslo.log screen files with post-2015 tracebacks
(every traceback line carries the logging prefix), a systemd-journal export
(``screen-n-cpu.txt``, as devstack has written it since 2017), the devstack console,
Zuul's ``job-output.txt`` and syslog — so every parser is exercised on realistic input.

Failing builds carry one recognizable failure each: six invented "known bugs"
(:data:`KNOWN_BUGS`) whose elastic-recheck signatures ship in
``appliance/recheck/signatures/<bug>.yaml``, plus failures no signature matches, so the
"uncategorized" view has content. Nothing here reads ``/work/shared``: the templates are
embedded, modelled on the os-loganalyze samples.

:func:`plan_builds` is the pure, deterministic plan (which build fails and why); tests
use it to know what :func:`generate` wrote.
"""

from __future__ import annotations

import gzip
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import zstandard

__all__ = [
    "JOBS", "KNOWN_BUGS", "UNCATEGORIZED", "DemoBuild", "Job", "KnownBug", "build_record", "generate",
    "inventory_yaml", "plan_builds", "render_build", "signature_yaml",
]  # fmt: skip

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# -- jobs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    name: str
    projects: tuple[str, ...]
    kind: str
    """``tempest`` | ``grenade`` (devstack + tempest) | ``tox`` (unit tests, no devstack)."""
    minutes: tuple[int, int]
    voting: bool = True
    services: tuple[str, ...] = ()
    """Screen services on the controller (keys of :data:`_SERVICES`)."""
    subnode: bool = False
    """A second node ``compute1`` with its own ``screen-n-cpu.txt``."""
    weight: int = 3
    """How often the job runs relative to the others."""


JOBS: tuple[Job, ...] = (
    Job("tempest-full-py3", ("openstack/nova", "openstack/tempest", "openstack/glance", "openstack/cinder"),
        "tempest", (70, 110), services=("n-api", "n-sch", "n-cpu", "q-svc", "c-api"), weight=4),
    Job("nova-multi-cell", ("openstack/nova",), "tempest", (80, 120), voting=False,
        services=("n-api", "n-sch", "n-cpu"), subnode=True, weight=2),
    Job("neutron-ovn-tempest", ("openstack/neutron", "openstack/ovn-octavia-provider"), "tempest", (60, 100),
        services=("n-api", "n-cpu", "q-svc", "q-ovn-metadata-agent")),
    Job("grenade", ("openstack/nova", "openstack/cinder", "openstack/keystone"), "grenade", (90, 140),
        services=("n-api", "n-sch", "n-cpu", "q-svc", "c-api"), weight=2),
    Job("openstack-tox-py311", ("openstack/nova", "openstack/neutron", "openstack/cinder", "openstack/oslo.log"),
        "tox", (8, 20), weight=4),
)  # fmt: skip
_JOB = {j.name: j for j in JOBS}

_PACKAGES = {"openstack/oslo.log": "oslo_log", "openstack/ovn-octavia-provider": "ovn_octavia_provider"}

PROVIDERS = (
    ("rax-dfw", "rax", "DFW"),
    ("ovh-bhs1", "ovh", "BHS1"),
    ("vexxhost-ca-ymq-1", "vexxhost", "ca-ymq-1"),
    ("openmetal-iad3", "openmetal", "iad3"),
    ("raxflex-sjc3", "raxflex", "SJC3"),
)
LABELS = ("ubuntu-jammy", "ubuntu-jammy", "ubuntu-noble")


# -- known bugs -----------------------------------------------------------------------------


@dataclass(frozen=True)
class KnownBug:
    """A failure the demo injects and a shipped signature recognizes.

    ``lines`` are what follows the timestamp in the target file's format: for ``oslo``
    ``"{pid} LEVEL module [ctx] msg"``; for ``journal`` and ``syslog`` ``"prog[pid]: msg"``
    (the host comes before it); for ``job-output`` the text after ``| controller | ``
    (a Jenkins-style console takes it after ``| ``). Placeholders: ``{req}``, ``{uuid}``,
    ``{ip}``, ``{host}``, ``{test}`` (a tempest class name), ``{n}``; ``{pid}`` and
    ``{uptime}`` (the kernel's ``[seconds.micros]``) are filled by the file's writer.
    """

    number: int
    title: str
    filename: str
    fmt: str
    lines: tuple[str, ...]
    query: str
    jobs: tuple[str, ...]
    """Jobs that can show it (only voting ones unless ``allow_nonvoting``: signatures
    match voting builds only by default, as in elastic-recheck)."""
    allow_nonvoting: bool = False
    suppress_graph: bool = False


def _jobs_with(service: str) -> tuple[str, ...]:
    return tuple(j.name for j in JOBS if service in j.services)


_DEVSTACK_JOBS = tuple(j.name for j in JOBS if j.kind != "tox")
_TEMPEST_JOBS = tuple(j.name for j in JOBS if j.kind == "tempest")
REQUEST_CONTEXT = "[None req-{req} tempest-{test}-{n} tempest-{test}-{n}-project-member]"

KNOWN_BUGS: dict[int, KnownBug] = {
    b.number: b
    for b in (
        KnownBug(
            2051932,
            "mysqld killed by the kernel OOM killer on the devstack node",
            "controller/logs/syslog.txt",
            "syslog",
            (
                "kernel: [{uptime}] Out of memory: Killed process {pid} (mysqld) total-vm:2894132kB, "
                "anon-rss:1262340kB, file-rss:0kB, shmem-rss:0kB, UID:116 pgtables:3180kB oom_score_adj:0",
                "kernel: [{uptime}] oom_reaper: reaped process {pid} (mysqld), now anon-rss:0kB, "
                "file-rss:0kB, shmem-rss:0kB",
            ),
            'message:"Out of memory: Killed process" AND message:"mysqld" AND tags:"syslog.txt"',
            _DEVSTACK_JOBS,
        ),
        KnownBug(
            2053417,
            "tempest: server stuck in BUILD/spawning, never reaches ACTIVE (TimeoutException)",
            "job-output.txt",
            "job-output",
            (
                "{{0}} tempest.api.compute.servers.test_create_server.ServersTestJSON.test_verify_server_details "
                "[196.418232s] ... FAILED",
                "",
                "Captured traceback:",
                "~~~~~~~~~~~~~~~~~~~",
                "    Traceback (most recent call last):",
                '      File "/opt/stack/tempest/tempest/api/compute/servers/test_create_server.py", line 72, in resource_setup',
                "        server = cls.create_test_server(wait_until='ACTIVE')",
                '      File "/opt/stack/tempest/tempest/common/waiters.py", line 119, in wait_for_server_status',
                "        raise lib_exc.TimeoutException(message)",
                "    tempest.lib.exceptions.TimeoutException: Request timed out",
                "    Details: (ServersTestJSON:setUpClass) Server {uuid} failed to reach ACTIVE status and task state "
                '"None" within the required time (196 s). Current status: BUILD. Current task state: spawning.',
            ),
            'message:"failed to reach ACTIVE status and task state" AND '
            'message:"Current status: BUILD. Current task state: spawning" AND tags:"job-output.txt"',
            _TEMPEST_JOBS + ("grenade",),
        ),
        KnownBug(
            2055120,
            "nova-scheduler: No valid host was found while computes are still registering",
            "controller/logs/screen-n-sch.txt",
            "oslo",
            (
                "{pid} INFO nova.scheduler.manager " + REQUEST_CONTEXT + " Got no allocation candidates from the Placement "
                "API. This could be due to insufficient resources or a temporary occurrence as compute nodes start up.",
                "{pid} ERROR nova.scheduler.manager " + REQUEST_CONTEXT + " Failed to schedule instance {uuid}: "
                "nova.exception.NoValidHost: No valid host was found. There are not enough hosts available.",
                "{pid} ERROR nova.scheduler.manager Traceback (most recent call last):",
                '{pid} ERROR nova.scheduler.manager   File "/opt/stack/nova/nova/scheduler/manager.py", line 246, in select_destinations',
                '{pid} ERROR nova.scheduler.manager     raise exception.NoValidHost(reason="")',
                "{pid} ERROR nova.scheduler.manager nova.exception.NoValidHost: No valid host was found. There are not "
                "enough hosts available.",
                "{pid} ERROR nova.scheduler.manager ",
            ),
            'message:"Failed to schedule instance" AND message:"NoValidHost: No valid host was found" '
            'AND tags:"screen-n-sch.txt"',
            _jobs_with("n-sch"),
        ),
        KnownBug(
            2058803,
            "neutron-server: Failed to bind port (OVN mechanism driver has no live chassis)",
            "controller/logs/screen-q-svc.txt",
            "oslo",
            (
                "{pid} WARNING neutron.plugins.ml2.drivers.ovn.mech_driver.mech_driver " + REQUEST_CONTEXT + " Refusing to bind "
                "port {uuid} due to no OVN chassis for host: {host}",
                "{pid} ERROR neutron.plugins.ml2.managers " + REQUEST_CONTEXT + " Failed to bind port {uuid} on host {host} for "
                "vnic_type normal using segments [{{'id': '4b7f1c39-2d0e-4b6a-9a51-6c1f0f3e9d21', 'network_type': "
                "'geneve', 'physical_network': None, 'segmentation_id': 41727, 'network_id': "
                "'a9d3c2e1-7f4b-4e8a-b0c5-2d6e8f1a3b47'}}]",
            ),
            'message:"Failed to bind port" AND message:"for vnic_type normal using segments" '
            'AND tags:"screen-q-svc.txt"',
            _jobs_with("q-svc"),
        ),
        KnownBug(
            2060244,
            "tempest: SSH to the guest times out (guest network not up)",
            "job-output.txt",
            "job-output",
            (
                "{{1}} tempest.scenario.test_network_basic_ops.TestNetworkBasicOps.test_network_basic_ops "
                "[312.904117s] ... FAILED",
                "",
                "Captured traceback:",
                "~~~~~~~~~~~~~~~~~~~",
                "    Traceback (most recent call last):",
                '      File "/opt/stack/tempest/tempest/lib/common/ssh.py", line 131, in _get_ssh_connection',
                "        ssh.connect(self.host, port=self.port, username=self.username,",
                "    tempest.lib.exceptions.SSHTimeout: Connection to the {ip} via SSH timed out.",
                "    User: cirros, Password: None",
            ),
            'message:"SSHTimeout: Connection to the" AND message:"via SSH timed out" AND tags:"job-output.txt"',
            _TEMPEST_JOBS,
            suppress_graph=True,
        ),
        KnownBug(
            2061375,
            "nova-compute: qemu unexpectedly closed the monitor while spawning",
            "controller/logs/screen-n-cpu.txt",
            "journal",
            (
                "nova-compute[{pid}]: ERROR nova.compute.manager " + REQUEST_CONTEXT + " [instance: {uuid}] Instance failed to "
                "spawn: libvirt.libvirtError: internal error: qemu unexpectedly closed the monitor: "
                "qemu-system-x86_64: -blockdev {{\"driver\":\"file\",\"filename\":\"/opt/stack/data/nova/instances/"
                "{uuid}/disk\"}}: Failed to get \"write\" lock",
                "nova-compute[{pid}]: ERROR nova.compute.manager [instance: {uuid}] Traceback (most recent call last):",
                'nova-compute[{pid}]: ERROR nova.compute.manager [instance: {uuid}]   File "/opt/stack/nova/nova/virt/'
                'libvirt/guest.py", line 165, in launch',
                "nova-compute[{pid}]: ERROR nova.compute.manager [instance: {uuid}]     return self._domain.createWithFlags(flags)",
                "nova-compute[{pid}]: ERROR nova.compute.manager [instance: {uuid}] libvirt.libvirtError: internal "
                "error: qemu unexpectedly closed the monitor",
                "nova-compute[{pid}]: ERROR nova.compute.manager [instance: {uuid}] ",
            ),
            'message:"Instance failed to spawn" AND message:"qemu unexpectedly closed the monitor" '
            'AND tags:"screen-n-cpu.txt"',
            _jobs_with("n-cpu"),
            allow_nonvoting=True,
        ),
    )
}
"""Bug number -> the failure, its injected line(s) and its signature query."""

UNCATEGORIZED: dict[str, tuple[str, ...]] = {
    "unit-test": ("openstack-tox-py311",),
    "server-fault": tuple(j.name for j in JOBS if j.kind == "tempest" and "n-api" in j.services),
}
"""Failures that match no shipped signature, and the jobs that can show them."""


# -- the plan -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoBuild:
    index: int
    uuid: str
    job: str
    project: str
    branch: str
    change: int
    patchset: int
    pipeline: str
    voting: bool
    result: str
    start: datetime
    end: datetime
    label: str
    provider: tuple[str, str, str]
    host: str
    bug: int | None
    """The :data:`KNOWN_BUGS` entry this failing build shows."""
    uncategorized: str | None
    """A :data:`UNCATEGORIZED` key when the failure matches no signature."""
    zuul_shape: str
    """``legacy`` (flat project/branch/change) or ``v10`` (``ref`` object) build.json."""

    @property
    def log_url(self) -> str:
        return (
            f"https://logs.example.org/{self.change % 100:02d}/{self.change}/{self.patchset}/"
            f"{self.pipeline}/{self.job}/{self.uuid[:7]}/"
        )


def _jobs_for(cause: int | str) -> list[str]:
    if isinstance(cause, str):
        return sorted(UNCATEGORIZED[cause])
    bug = KNOWN_BUGS[cause]
    return sorted(j for j in bug.jobs if _JOB[j].voting or bug.allow_nonvoting)


def plan_builds(
    *, days: int = 3, builds_per_day: int = 16, seed: int = 0, now: datetime | None = None
) -> list[DemoBuild]:
    """Decide every build (job, fields, times, failure) without writing anything.

    About a quarter fail; the first failures cycle through every known bug and every
    uncategorized kind, so even a small demo shows each of them."""
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    rng = random.Random(f"demo-plan-{seed}")
    n = max(1, days * builds_per_day)
    causes: list[int | str] = [*KNOWN_BUGS, *UNCATEGORIZED]
    rng.shuffle(causes)
    nfail = max(1, round(n * 0.25))
    cause_list = (causes + [rng.choice(causes) for _ in range(max(0, nfail - len(causes)))])[:nfail]
    failing = dict(zip(sorted(rng.sample(range(n), nfail)), cause_list, strict=True))
    span = timedelta(days=days)
    slot = span / n
    out = []
    for i in range(n):
        cause = failing.get(i)
        if cause is None:
            job = _JOB[rng.choices([j.name for j in JOBS], weights=[j.weight for j in JOBS])[0]]
        else:
            job = _JOB[rng.choice(_jobs_for(cause))]
        dur = timedelta(minutes=rng.uniform(*job.minutes))
        start = now - span + slot * (i + rng.random() * 0.8)
        start = min(start, now - dur - timedelta(minutes=1)).replace(microsecond=0)
        end = (start + dur).replace(microsecond=0)
        pipeline = "gate" if job.voting and rng.random() < 0.3 else "check"
        out.append(
            DemoBuild(
                index=i,
                uuid=f"{rng.getrandbits(128):032x}",
                job=job.name,
                project=rng.choice(job.projects),
                branch="master" if rng.random() < 0.85 else "stable/2024.2",
                change=rng.randint(900000, 949999),
                patchset=rng.randint(1, 9),
                pipeline=pipeline,
                voting=job.voting,
                result="SUCCESS" if cause is None else "FAILURE",
                start=start,
                end=end,
                label=rng.choice(LABELS),
                provider=rng.choice(PROVIDERS),
                host=f"np00{rng.randint(36000000, 39999999)}",
                bug=cause if isinstance(cause, int) else None,
                uncategorized=cause if isinstance(cause, str) else None,
                zuul_shape="v10" if i % 3 else "legacy",
            )
        )
    return out


# -- timestamp formats ----------------------------------------------------------------------


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def ts_oslo(t: float) -> str:
    """``2013-09-27 18:22:10.245`` (oslo.log and the devstack console)."""
    d = _dt(t)
    return f"{d:%Y-%m-%d %H:%M:%S}.{d.microsecond // 1000:03d}"


def ts_zuul(t: float) -> str:
    """``2024-02-13 23:17:30.123456`` (Zuul's job-output.txt)."""
    return f"{_dt(t):%Y-%m-%d %H:%M:%S.%f}"


def ts_syslog(t: float) -> str:
    """``Jun  9 15:41:36`` (no year, day padded with a space)."""
    d = _dt(t)
    return f"{MONTHS[d.month - 1]} {d.day:2d} {d:%H:%M:%S}"


def ts_journal(t: float) -> str:
    """``Mar 28 12:20:42.377230`` (journalctl's short-precise)."""
    d = _dt(t)
    return f"{MONTHS[d.month - 1]} {d.day:2d} {d:%H:%M:%S}.{d.microsecond:06d}"


def _times(rng: random.Random, a: float, b: float, n: int) -> list[float]:
    return sorted(rng.uniform(a, b) for _ in range(n))


def random_uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


# -- embedded templates ---------------------------------------------------------------------

_TESTS = (
    "tempest.api.compute.servers.test_servers.ServersTestJSON.test_update_server_name",
    "tempest.api.compute.servers.test_server_actions.ServerActionsTestJSON.test_reboot_server_hard",
    "tempest.api.compute.servers.test_list_servers_negative.ListServersNegativeTestJSON.test_list_servers_by_non_existing_image",
    "tempest.api.compute.images.test_images.ImagesTestJSON.test_create_image_from_stopped_server",
    "tempest.api.compute.volumes.test_attach_volume.AttachVolumeTestJSON.test_attach_detach_volume",
    "tempest.api.compute.admin.test_aggregates.AggregatesAdminTestJSON.test_aggregate_create_delete",
    "tempest.api.compute.flavors.test_flavors.FlavorsV2TestJSON.test_get_flavor",
    "tempest.api.compute.keypairs.test_keypairs.KeyPairsV2TestJSON.test_keypair_create_delete",
    "tempest.api.network.test_networks.NetworksTest.test_create_update_delete_network_subnet",
    "tempest.api.network.test_ports.PortsTestJSON.test_create_port_in_allowed_allocation_pools",
    "tempest.api.network.test_routers.RoutersTest.test_add_remove_router_interface_with_subnet_id",
    "tempest.api.network.test_floating_ips.FloatingIPTestJSON.test_create_list_show_update_delete_floating_ip",
    "tempest.api.network.test_security_groups.SecGroupTest.test_create_list_update_show_delete_security_group",
    "tempest.api.volume.test_volumes_actions.VolumesActionsTest.test_attach_detach_volume_to_instance",
    "tempest.api.volume.test_volumes_snapshots.VolumesSnapshotTestJSON.test_snapshot_create_get_list_update_delete",
    "tempest.api.volume.test_volumes_extend.VolumesExtendTest.test_volume_extend",
    "tempest.api.image.v2.test_images.BasicOperationsImagesTest.test_register_upload_get_image_file",
    "tempest.api.identity.admin.v3.test_users.UsersV3TestJSON.test_update_user_password",
    "tempest.api.object_storage.test_container_services.ContainerTest.test_create_container",
    "tempest.scenario.test_server_basic_ops.TestServerBasicOps.test_server_basic_ops",
    "tempest.scenario.test_minimum_basic.TestMinimumBasicScenario.test_minimum_basic_scenario",
    "tempest.scenario.test_volume_boot_pattern.TestVolumeBootPattern.test_volume_boot_pattern",
)
TEST_CLASSES = ("ServersTestJSON", "ServerActionsTestJSON", "AttachVolumeTestJSON", "PortsTestJSON",
                 "VolumesActionsTest", "ImagesTestJSON", "TestNetworkBasicOps", "SecGroupTest")  # fmt: skip
_UNIT = ("test_utils.GenericUtilsTestCase.test_read_file", "test_api.ComputeAPIUnitTestCase.test_resize",
         "test_manager.ManagerTestCase.test_periodic_tasks", "db.test_api.DBAPITestCase.test_get_by_uuid",
         "test_context.ContextTestCase.test_elevated", "objects.test_objects.TestObjectVersions.test_versions",
         "test_service.ServiceTestCase.test_start", "test_policy.PolicyTestCase.test_enforce_http_true",
         "test_conf.ConfTestCase.test_defaults", "test_rpc.RpcTestCase.test_get_client")  # fmt: skip

_PRE_TASKS = (
    "validate-host : Collect information about the host",
    "prepare-workspace-git : Synchronize src repos to workspace directory.",
    "configure-mirrors : Install apt sources list",
    "ensure-python : Install python3",
    "add-build-sshkey : Create Temp SSH key",
    "orchestrate-devstack : Write the devstack local.conf",
    "setup-devstack-cache : Copy the cached files",
)
_POST_TASKS = (
    "fetch-subunit-output : Generate testr_results.html",
    "capture-system-logs : Stage various logs",
    "devstack-project-conf : Copy devstack configuration files",
    "fetch-output : Collect logs",
    "upload-logs-swift : Upload logs to swift",
)

# (level, module, message); "{ctx}" is a request context, "{dbg}" oslo's DEBUG suffix.
_OSLO_TEMPLATES: dict[str, tuple[tuple[str, str, str, int], ...]] = {
    "nova": (
        ("INFO", "nova.api.openstack.requestlog", '{ctx} {ip} "GET /compute/v2.1/servers/{uuid}" status: 200 len: {len} microversion: 2.{mv} time: 0.{ms:06d}', 8),
        ("INFO", "nova.api.openstack.requestlog", '{ctx} {ip} "POST /compute/v2.1/servers" status: 202 len: 405 microversion: 2.{mv} time: 0.{ms:06d}', 2),
        ("DEBUG", "nova.api.openstack.wsgi", "{ctx} Calling method '<bound method ServersController.show of <nova.api.openstack.compute.servers.ServersController object at 0x7f{hex}>>' {dbg}", 6),
        ("DEBUG", "oslo_concurrency.lockutils", '[-] Lock "compute_resources" acquired by "nova.compute.resource_tracker.ResourceTracker._update_available_resource" :: waited 0.000s {dbg}', 3),
        ("DEBUG", "oslo_messaging._drivers.amqpdriver", "[-] CALL msg_id: {hex32} exchange 'nova' topic 'conductor' {dbg}", 3),
        ("INFO", "nova.compute.manager", "{ctx} [instance: {uuid}] Took {sec}.{ms2:02d} seconds to build instance.", 1),
    ),
    "nova-sch": (
        ("DEBUG", "nova.scheduler.manager", "{ctx} Starting to schedule for instances: ['{uuid}'] {dbg}", 4),
        ("DEBUG", "nova.scheduler.host_manager", "{ctx} Found 1 cells: 00000000-0000-0000-0000-000000000000 {dbg}", 2),
        ("DEBUG", "nova.scheduler.filters.compute_filter", "{ctx} Filter ComputeFilter returned 1 host(s) {dbg}", 3),
        ("DEBUG", "nova.scheduler.manager", "{ctx} Weighed [WeighedHost [host: ({host}, {host}) ram: 7048MB disk: 29696MB io_ops: 0 instances: 1, weight: 2.0]] {dbg}", 2),
        ("INFO", "nova.scheduler.host_manager", "[-] Received a sync request from an unknown host '{host}'. Re-created its InstanceList.", 1),
    ),
    "neutron": (
        ("INFO", "neutron.wsgi", '{ctx} {ip} "GET /networking/v2.0/ports?device_id={uuid} HTTP/1.1" status: 200  len: {len} time: 0.{ms:07d}', 8),
        ("DEBUG", "neutron.plugins.ml2.managers", "{ctx} Attempting to bind port {uuid} on host {host} for vnic_type normal with profile  {dbg}", 2),
        ("INFO", "neutron.plugins.ml2.plugin", "{ctx} Port {uuid} changed from DOWN to ACTIVE", 1),
        ("DEBUG", "neutron_lib.callbacks.manager", "{ctx} Publish callbacks ['neutron.services.ovn_l3.service_providers.ovn.OvnDriver._process_router_update-{n}'] for router (None), after_update {dbg}", 3),
        ("DEBUG", "ovsdbapp.backend.ovs_idl.transaction", "[-] Running txn n=1 command(idx=0): LspSetUpCommand(lport={uuid}, up=True) {dbg}", 3),
    ),
    "cinder": (
        ("INFO", "cinder.api.openstack.wsgi", "{ctx} GET http://{ip}/volume/v3/{hex32}/volumes/{uuid}", 5),
        ("INFO", "cinder.api.openstack.wsgi", "{ctx} http://{ip}/volume/v3/{hex32}/volumes/{uuid} returned with HTTP 200", 5),
        ("DEBUG", "cinder.api.openstack.wsgi", "{ctx} Action: 'create', calling method: create, body: {{\"volume\": {{\"size\": 1}}}} {dbg}", 2),
        ("INFO", "cinder.volume.api", "{ctx} Volume created successfully.", 1),
    ),
}
_SERVICES: dict[str, tuple[str, str]] = {
    # service -> (file name, template set; "journal" for the systemd-journal export)
    "n-api": ("screen-n-api.txt", "nova"),
    "n-sch": ("screen-n-sch.txt", "nova-sch"),
    "n-cpu": ("screen-n-cpu.txt", "journal"),
    "q-svc": ("screen-q-svc.txt", "neutron"),
    "q-ovn-metadata-agent": ("screen-q-ovn-metadata-agent.txt", "neutron"),
    "c-api": ("screen-c-api.txt", "cinder"),
}
_WARNINGS = {
    "nova": "[None req-{req} - -] JSON formatted policy_file support is deprecated since Victoria release. You need to use YAML format which will be default in future. You can use ``oslopolicy-convert-json-to-yaml`` tool to convert existing JSON-formatted policy file to YAML-formatted in backward compatible way: https://docs.openstack.org/oslo.policy/latest/cli/oslopolicy-convert-json-to-yaml.html.",
    "nova-sch": "[-] No compute node record found for host {host}. If this is the first time this service is starting on this host, then you can ignore this warning.",
    "neutron": "[None req-{req} - -] Unable to schedule network {uuid}: no agents available; will retry on subsequent port and subnet creation events.",
    "cinder": "[-] AuthToken middleware is set with keystone_authtoken.service_token_roles_required set to False. This is backwards compatible but deprecated behaviour. Please set this to True.",
}
_WARN_MODULE = {"nova": "oslo_policy.policy", "nova-sch": "nova.scheduler.host_manager",
                "neutron": "neutron.api.rpc.agentnotifiers.dhcp_rpc_agent_api", "cinder": "keystonemiddleware.auth_token"}  # fmt: skip

# nova-compute as the systemd journal shows it: (level, module, message, weight)
_JOURNAL_TEMPLATES = (
    ("INFO", "nova.compute.claims", "{ctx} [instance: {uuid}] Claim successful on node {host}", 2),
    ("DEBUG", "nova.virt.libvirt.driver", "{ctx} [instance: {uuid}] Start _get_guest_xml network_info=[] {dbg}", 3),
    ("INFO", "nova.virt.libvirt.driver", "{ctx} [instance: {uuid}] Creating image(s)", 2),
    ("INFO", "nova.compute.manager", "{ctx} [instance: {uuid}] Took {sec}.{ms2:02d} seconds to spawn the instance on the hypervisor.", 2),
    ("DEBUG", "oslo_concurrency.processutils", "{ctx} Running cmd (subprocess): qemu-img info /opt/stack/data/nova/instances/{uuid}/disk --force-share --output=json {dbg}", 3),
    ("DEBUG", "nova.compute.resource_tracker", "[None req-{req} None None] Hypervisor/Node resource view: name={host} free_ram=5120MB free_disk=28.1GB free_vcpus=6 {dbg}", 2),
    ("WARNING", "nova.virt.libvirt.driver", "[None req-{req} None None] This host appears to have multiple sockets per NUMA node. The `socket` PCI NUMA affinity will not be supported.", 0),
)

_DEVSTACK = (
    "+ ./stack.sh:main:{n}                       :   echo_summary 'Installing package prerequisites'",
    "+ functions-common:git_clone:{n}             :   git clone https://opendev.org/openstack/{proj} /opt/stack/{proj} --branch master",
    "Cloning into '/opt/stack/{proj}'...",
    "+ lib/{proj}:install_{proj}:{n}               :   setup_develop /opt/stack/{proj}",
    "Processing /opt/stack/{proj}",
    "  Preparing metadata (setup.py): started",
    "  Preparing metadata (setup.py): finished with status 'done'",
    "Requirement already satisfied: oslo.config>=8.6.0 in /opt/stack/data/venv/lib/python3.10/site-packages (from {proj}==29.1.0.dev{n}) (9.6.0)",
    "Successfully installed {proj}-29.1.0.dev{n}",
    "+ functions-common:run_process:{n}           :   _run_under_systemd {svc} '/opt/stack/data/venv/bin/{proj}-api'",
    "+ functions-common:write_user_unit_file:{n}  :   sudo systemctl daemon-reload",
    "+ lib/databases/mysql:recreate_database_mysql:{n} :   mysql -uroot -psecretmysql -h127.0.0.1 -e 'CREATE DATABASE {proj} CHARACTER SET utf8;'",
    "+ lib/keystone:get_or_create_service:{n}     :   openstack service create {proj} --name {proj}",
    "+-------------+----------------------------------+",
)
_SYSLOG = (
    "systemd[1]: Started devstack@{svc}.service - Devstack devstack@{svc}.service.",
    "kernel: [ {up}] IPv6: ADDRCONF(NETDEV_CHANGE): tap{short}: link becomes ready",
    "sudo[{pid}]:    stack : PWD=/ ; USER=root ; COMMAND=/opt/stack/data/venv/bin/privsep-helper --config-file /etc/nova/nova.conf --privsep_context vif_plug_ovs.privsep.vif_plug --privsep_sock_path /tmp/tmp{short}/privsep.sock",
    "ovs-vsctl: ovs|00001|vsctl|INFO|Called as ovs-vsctl -- --may-exist add-port br-int tap{short} -- set Interface tap{short} external-ids:iface-id={uuid}",
    "kernel: [ {up}] audit: type=1400 audit({epoch}.{ms3:03d}:{n}): apparmor=\"STATUS\" operation=\"profile_load\" profile=\"unconfined\" name=\"libvirt-{uuid}\" pid={pid} comm=\"apparmor_parser\"",
    "libvirtd[{pid}]: internal error: could not get interface statistics for 'tap{short}'",
    "CRON[{pid}]: (root) CMD (   cd / && run-parts --report /etc/cron.hourly)",
)


# -- renderers ------------------------------------------------------------------------------


class _Ctx:
    """Per-build random values for templates (one RNG, so a build's bytes are fixed)."""

    def __init__(self, b: DemoBuild, rng: random.Random) -> None:
        self.b = b
        self.rng = rng
        self.ip = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(2, 250)}"

    def values(self, **extra: object) -> dict[str, object]:
        r = self.rng
        test = r.choice(TEST_CLASSES)
        n = r.randint(1000000, 9999999)
        v: dict[str, object] = {
            "req": random_uuid(r), "uuid": random_uuid(r), "ip": self.ip, "host": self.b.host, "test": test,
            "n": n, "len": r.randint(300, 4000), "mv": r.randint(1, 96), "ms": r.randint(1000, 999999),
            "ms2": r.randint(0, 99), "sec": r.randint(2, 40), "hex": f"{r.getrandbits(40):010x}",
            "hex32": f"{r.getrandbits(128):032x}",
        }  # fmt: skip
        v["ctx"] = REQUEST_CONTEXT.format(**v)
        v.update(extra)
        return v


def _pick(rng: random.Random, templates: tuple[tuple[str, str, str, int], ...], n: int) -> list[tuple[str, str, str, int]]:
    return rng.choices(templates, weights=[t[3] for t in templates], k=n)


def _oslo_file(c: _Ctx, kind: str, a: float, b: float, n: int, extra: list[tuple[float, str]]) -> str:
    """An oslo.log screen file: ``ts pid LEVEL module [ctx] msg`` with a few harmless WARNINGs."""
    rng = c.rng
    pid = rng.randint(40000, 90000)
    entries: list[tuple[float, str]] = []
    for t, (level, module, msg, _) in zip(_times(rng, a, b, n), _pick(rng, _OSLO_TEMPLATES[kind], n), strict=True):
        v = c.values(dbg=f"{{{{(pid={pid}) {module.rsplit('.', 1)[-1]} /opt/stack/{module.replace('.', '/')}.py:{rng.randint(80, 1400)}}}}}")
        entries.append((t, f"{pid} {level} {module} {msg.format(**v)}"))
    for t in _times(rng, a, b, rng.randint(1, 3)):
        entries.append((t, f"{pid} WARNING {_WARN_MODULE[kind]} {_WARNINGS[kind].format(**c.values())}"))
    entries.extend((t, line.replace("{pid}", str(pid))) for t, line in extra)
    entries.sort(key=lambda e: e[0])
    return "".join(f"{ts_oslo(t)} {line}\n" for t, line in entries)


def _journal_file(c: _Ctx, host: str, a: float, b: float, n: int, extra: list[tuple[float, str]]) -> str:
    """nova-compute as ``journalctl -o short-precise`` exports it (devstack's screen-n-cpu.txt)."""
    rng = c.rng
    pid = rng.randint(40000, 90000)
    a += rng.random()
    entries: list[tuple[float, str]] = [(a, "systemd[1]: Started devstack@n-cpu.service - Devstack devstack@n-cpu.service.")]
    for t, (level, module, msg, _) in zip(_times(rng, a + 1, b, n), _pick(rng, _JOURNAL_TEMPLATES, n), strict=True):
        v = c.values(dbg=f"{{{{(pid={pid}) {module.rsplit('.', 1)[-1]} /opt/stack/nova/{module.replace('.', '/')}.py:{rng.randint(80, 1400)}}}}}")
        entries.append((t, f"nova-compute[{pid}]: {level} {module} {msg.format(**v)}"))
    warn = _JOURNAL_TEMPLATES[-1]
    entries.append((a + 2, f"nova-compute[{pid}]: {warn[0]} {warn[1]} {warn[2].format(**c.values())}"))
    entries.extend((t, line.replace("{pid}", str(pid))) for t, line in extra)
    entries.sort(key=lambda e: e[0])
    return "".join(f"{ts_journal(t)} {host} {line}\n" for t, line in entries)


def _syslog_file(c: _Ctx, a: float, b: float, n: int, extra: list[tuple[float, str]]) -> str:
    rng = c.rng
    boot = a - rng.uniform(120, 400)
    svcs = ("n-api", "n-cpu", "q-svc", "c-api", "g-api", "keystone", "placement-api")
    entries: list[tuple[float, str]] = []
    for t in _times(rng, a, b, n):
        v = c.values(
            svc=rng.choice(svcs), up=f"{t - boot:11.6f}", pid=rng.randint(1000, 60000), short=f"{rng.getrandbits(40):010x}",
            epoch=int(t), ms3=rng.randint(0, 999),
        )  # fmt: skip
        entries.append((t, rng.choice(_SYSLOG).format(**v)))
    victim = rng.randint(20000, 40000)
    for t, line in extra:
        entries.append((t, line.replace("{uptime}", f"{t - boot:12.6f}").replace("{pid}", str(victim))))
    entries.sort(key=lambda e: e[0])
    return "".join(f"{ts_syslog(t)} {c.b.host} {line}\n" for t, line in entries)


def _devstack_file(c: _Ctx, a: float, b: float, n: int) -> str:
    """``stack.sh``'s console log: ``YYYY-MM-DD HH:MM:SS.mmm | msg``."""
    rng = c.rng
    projs = ("nova", "neutron", "cinder", "glance", "keystone", "placement")
    lines = [f"stack.sh log /opt/stack/logs/stacklog.txt.{_dt(a):%Y-%m-%d-%H%M%S}"]
    for _ in range(n - 2):
        p = rng.choice(projs)
        lines.append(rng.choice(_DEVSTACK).format(n=rng.randint(100, 2400), proj=p, svc=p[0] + "-api"))
    lines.append(f"This is your host IP address: {c.ip}")
    return "".join(f"{ts_oslo(t)} | {line}\n" for t, line in zip(_times(rng, a, b, len(lines)), lines, strict=True))


def _job_output(c: _Ctx, job: Job, a: float, b: float, extra: list[str], fail_at: float | None) -> str:
    """Zuul's job-output.txt: ``ts | msg`` banners, ``ts | host | msg`` task output.

    ``extra`` (a failed test and its captured traceback) is printed as one burst, a little
    after ``fail_at``, in the middle of the test run."""
    failed = fail_at is not None
    rng, bd = c.rng, c.b
    host = "controller" if job.kind != "tox" else bd.label
    d = b - a
    playbook = (
        "opendev.org/zuul/zuul-jobs/playbooks/tox/run.yaml@master" if job.kind == "tox"
        else "opendev.org/openstack/tempest/playbooks/devstack-tempest.yaml@master"
    )  # fmt: skip
    head = [
        "Job console starting...", "Updating repositories", "Preparing job workspace", "Running Ansible setup...",
        "PRE-RUN START: [trusted : opendev.org/opendev/base-jobs/playbooks/base/pre.yaml@master]", "", "PLAY [all]", "",
        "TASK [emit-job-header : Print job information]", "# Job Information", "Ansible Version: 2.16.14",
        f"Job: {bd.job}", f"Pipeline: {bd.pipeline}", f"Executor: ze0{rng.randint(1, 9)}.opendev.org",
        f"Triggered by: https://review.opendev.org/c/{bd.project}/+/{bd.change}",
        f"Log URL (when completed): {bd.log_url}", f"Node: {host}", f"  Cloud: {bd.provider[1]}",
        f"  Region: {bd.provider[2]}", f"  Label: {bd.label}", f"  Provider: {bd.provider[0]}",
    ]  # fmt: skip
    pre: list[str] = []
    for task in _PRE_TASKS:
        pre += ["", f"TASK [{task}]", f"{host} | {rng.choice(('ok', 'changed', 'ok'))}"]
    pre += ["PRE-RUN END RESULT_NORMAL: [trusted : opendev.org/opendev/base-jobs/playbooks/base/pre.yaml@master]"]
    out = [(t, s) for t, s in zip(_times(rng, a + 1, a + 0.05 * d, len(head) + len(pre)), head + pre, strict=True)]
    run: list[str] = [f"RUN START: [untrusted : {playbook}]", ""]
    if job.kind == "tox":
        pkg = _PACKAGES.get(bd.project, bd.project.split("/")[-1].replace("-", "_"))
        run += [
            "TASK [tox : Run tox testing]",
            f"{host} | py311: install_deps> python -I -m pip install -c https://releases.openstack.org/constraints/upper/master -r requirements.txt -r test-requirements.txt",
            f"{host} | py311: commands[0]> stestr run --slowest",
        ]  # fmt: skip
        tests = [f"{host} | {{{rng.randint(0, 7)}}} {pkg}.tests.unit.{rng.choice(_UNIT)}_{k} [{rng.uniform(0.002, 2):.6f}s] ... ok"
                 for k in range(rng.randint(120, 220))]  # fmt: skip
    else:
        run += [
            "TASK [orchestrate-devstack : Run devstack]",
            f"{host} | ok: Runtime: 0:{rng.randint(14, 28)}:{rng.randint(10, 59)}.{rng.randint(0, 999999):06d}",
            "", "TASK [run-tempest : Run Tempest]",
            f"{host} | Running tempest with arguments: --concurrency=4 --exclude-list=/tmp/tmp{rng.getrandbits(32):08x}",
        ]  # fmt: skip
        tests = [f"{host} | {{{rng.randint(0, 3)}}} {rng.choice(_TESTS)} [{rng.uniform(0.3, 90):.6f}s] ... "
                 + ("ok" if rng.random() < 0.93 else "SKIPPED: Feature not enabled")
                 for _ in range(rng.randint(120, 200))]  # fmt: skip
    ran = len(tests)
    totals = [
        "======", "Totals", "======", f"Ran: {ran} tests in {rng.uniform(0.5, 0.7) * d:.4f} sec.",
        f" - Passed: {ran - (1 if failed else 0)}", " - Skipped: 0", " - Expected Fail: 0", " - Unexpected Success: 0",
        f" - Failed: {1 if failed else 0}",
    ]  # fmt: skip
    tests += [f"{host} | {x}" for x in totals]
    if job.kind == "tox":
        tests.append(f"{host} |   py311: {'FAIL code 1' if failed else 'OK'} ({d * 0.8:.2f} seconds)")
        tests.append(f"{host} |   {'evaluation failed :(' if failed else 'congratulations :)'} ({d * 0.8:.2f} seconds)")
    if failed:
        tests += [f"{host} | ERROR", f"{host} | {{", f'{host} |   "msg": "non-zero return code",', f"{host} |   \"rc\": 1", f"{host} | }}"]
    else:
        tests.append(f"{host} | ok: Runtime: 0:{int(d * 0.6 // 60)}:{rng.randint(10, 59)}.{rng.randint(0, 999999):06d}")
    tests += ["", "PLAY RECAP",
              f"{host} | ok: {rng.randint(20, 40)} changed: {rng.randint(8, 20)} unreachable: 0 failed: {1 if failed else 0} "
              f"skipped: {rng.randint(3, 12)} rescued: 0 ignored: 0", "",
              f"RUN END RESULT_NORMAL: [untrusted : {playbook}]"]  # fmt: skip
    body = list(zip(_times(rng, a + 0.06 * d, a + 0.9 * d, len(run) + len(tests)), run + tests, strict=True))
    if extra:
        t0 = min(max(fail_at or a, a + 0.1 * d) + rng.uniform(5, 40), a + 0.85 * d)
        at = next((i for i, (t, _) in enumerate(body) if t > t0), len(body) - 1)
        body[at:at] = [(t0 + k * 2e-5, f"{host} | {x}") for k, x in enumerate(extra)]
    out += body
    post = ["POST-RUN START: [trusted : opendev.org/opendev/base-jobs/playbooks/base/post.yaml@master]"]
    for task in _POST_TASKS:
        if job.kind == "tox" and "devstack" in task:
            continue
        post += ["", f"TASK [{task}]", f"{host} | {rng.choice(('ok', 'changed'))}"]
    post += ["POST-RUN END RESULT_NORMAL: [trusted : opendev.org/opendev/base-jobs/playbooks/base/post.yaml@master]"]
    out += list(zip(_times(rng, a + 0.91 * d, b, len(post)), post, strict=True))
    return "".join(f"{ts_zuul(t)} | {s}\n" for t, s in out)


# secondary symptoms in job-output.txt for failures whose root cause is in another file
_SYMPTOMS = {
    "build-error": (
        "{{2}} tempest.api.compute.servers.test_create_server.ServersTestJSON.test_list_servers [88.120044s] ... FAILED",
        "", "Captured traceback:", "~~~~~~~~~~~~~~~~~~~", "    Traceback (most recent call last):",
        '      File "/opt/stack/tempest/tempest/common/compute.py", line 306, in create_test_server',
        "        waiters.wait_for_server_status(",
        "    tempest.exceptions.BuildErrorException: Server {uuid} failed to build and is in ERROR status",
        "    Details: Fault: {{'code': 500, 'created': '{when}', 'message': '{fault}'}}.",
    ),
    "connect-failure": (
        "{{3}} tempest.api.volume.test_volumes_actions.VolumesActionsTest.test_volume_upload [41.882190s] ... FAILED",
        "", "Captured traceback:", "~~~~~~~~~~~~~~~~~~~", "    Traceback (most recent call last):",
        '      File "/opt/stack/tempest/tempest/lib/common/rest_client.py", line 739, in _request',
        "        resp, resp_body = self.raw_request(",
        "    keystoneauth1.exceptions.connection.ConnectFailure: Unable to establish connection to "
        "http://{ip}/identity/v3/auth/tokens: ('Connection aborted.', RemoteDisconnected('Remote end closed "
        "connection without response'))",
    ),
    "server-fault": (
        "{{1}} tempest.api.compute.servers.test_server_actions.ServerActionsTestJSON.test_resize_server_confirm "
        "[12.004531s] ... FAILED",
        "", "Captured traceback:", "~~~~~~~~~~~~~~~~~~~", "    Traceback (most recent call last):",
        '      File "/opt/stack/tempest/tempest/api/compute/servers/test_server_actions.py", line 388, in test_resize_server_confirm',
        "        self._test_resize_server_confirm(self.server_id, stop=False)",
        "    tempest.lib.exceptions.ServerFault: Got server fault",
        "    Details: Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and attach the Nova "
        "API log if possible.",
        "<class 'KeyError'>",
    ),
    "unit-test": (
        "{{2}} {pkg}.tests.unit.test_api.ComputeAPIUnitTestCase.test_resize_with_pci_request [0.412871s] ... FAILED",
        "", "Captured traceback:", "~~~~~~~~~~~~~~~~~~~", "    Traceback (most recent call last):",
        '      File "/home/zuul/src/opendev.org/{project}/{pkg}/tests/unit/test_api.py", line 2279, in '
        "test_resize_with_pci_request",
        "        self.assertEqual(2, len(mock_claim.mock_calls))",
        "    testtools.matchers._impl.MismatchError: 2 != 3",
    ),
}
_FAULTS = {
    2055120: "No valid host was found. There are not enough hosts available.",
    2058803: "Build of instance {uuid} aborted: Failed to allocate the network(s), not rescheduling.",
    2061375: "Exceeded maximum number of retries. Exhausted all hosts available for retrying build failures for instance {uuid}.",
}  # fmt: skip
_SERVER_FAULT_NAPI = (
    "{pid} ERROR nova.api.openstack.wsgi " + REQUEST_CONTEXT + " Unexpected exception in API method: KeyError: 'flavor'",
    "{pid} ERROR nova.api.openstack.wsgi Traceback (most recent call last):",
    '{pid} ERROR nova.api.openstack.wsgi   File "/opt/stack/nova/nova/api/openstack/wsgi.py", line 658, in wrapped',
    "{pid} ERROR nova.api.openstack.wsgi     return f(*args, **kwargs)",
    '{pid} ERROR nova.api.openstack.wsgi   File "/opt/stack/nova/nova/api/openstack/compute/servers.py", line 1052, in _action_resize',
    "{pid} ERROR nova.api.openstack.wsgi     flavor_ref = str(body['resize']['flavor'])",
    "{pid} ERROR nova.api.openstack.wsgi KeyError: 'flavor'",
    "{pid} ERROR nova.api.openstack.wsgi ",
)


def _fmt_lines(lines: tuple[str, ...], values: dict[str, object]) -> list[str]:
    """Fill placeholders but keep ``{pid}`` for the file writer, which knows the pid."""
    vals = {**values, "pid": "{pid}", "uptime": "{uptime}"}
    return [x.format(**vals) for x in lines]


def render_build(b: DemoBuild) -> dict[str, str]:
    """Every log file of a build: relative path (uncompressed name) -> text."""
    rng = random.Random(f"demo-build-{b.uuid}")
    c = _Ctx(b, rng)
    job = _JOB[b.job]
    a, z = b.start.timestamp(), b.end.timestamp()
    d = z - a
    t_fail = a + rng.uniform(0.5, 0.85) * d
    failed = b.result != "SUCCESS"
    if b.bug is not None and KNOWN_BUGS[b.bug].fmt == "job-output":
        t_fail = a + rng.uniform(0.35, 0.75) * d
    files: dict[str, str] = {}
    extras: dict[str, list[tuple[float, str]]] = {}
    jo_extra: list[str] = []
    v = c.values(pkg=_PACKAGES.get(b.project, b.project.split("/")[-1].replace("-", "_")), project=b.project)
    if b.bug is not None:
        bug = KNOWN_BUGS[b.bug]
        lines = _fmt_lines(bug.lines, v)
        if bug.fmt == "job-output":
            jo_extra = lines
        else:
            step = 0.047 if bug.fmt == "syslog" else 0.0  # a traceback shares one timestamp
            extras[bug.filename] = [(t_fail + k * step, x) for k, x in enumerate(lines)]
            symptom = "connect-failure" if bug.number not in _FAULTS else "build-error"
            fault = _FAULTS.get(bug.number, "").format(**v)
            jo_extra = _fmt_lines(_SYMPTOMS[symptom], {**v, "fault": fault, "when": f"{_dt(t_fail):%Y-%m-%dT%H:%M:%SZ}"})
    elif b.uncategorized:
        jo_extra = _fmt_lines(_SYMPTOMS[b.uncategorized], v)
        if b.uncategorized == "server-fault":
            extras["controller/logs/screen-n-api.txt"] = [(t_fail, x) for x in _fmt_lines(_SERVER_FAULT_NAPI, v)]
    files["job-output.txt"] = _job_output(c, job, a, z, jo_extra, t_fail if failed else None)
    files["zuul-info/inventory.yaml"] = inventory_yaml(b, job)
    if job.kind == "tox":
        return files
    svc_a, svc_b = a + 0.3 * d, a + 0.92 * d
    files["controller/logs/devstacklog.txt"] = _devstack_file(c, a + 0.06 * d, a + 0.29 * d, rng.randint(150, 250))
    if job.kind == "grenade":
        files["controller/logs/grenade.sh_log.txt"] = _devstack_file(c, a + 0.05 * d, a + 0.3 * d, rng.randint(60, 120))
    for svc in job.services:
        name, kind = _SERVICES[svc]
        path = f"controller/logs/{name}"
        if kind == "journal":
            files[path] = _journal_file(c, b.host, svc_a, svc_b, rng.randint(100, 180), extras.get(path, []))
        else:
            files[path] = _oslo_file(c, kind, svc_a, svc_b, rng.randint(80, 180), extras.get(path, []))
    if job.subnode:
        files["compute1/logs/screen-n-cpu.txt"] = _journal_file(c, b.host.replace("np00", "np01"), svc_a, svc_b,
                                                               rng.randint(80, 160), [])  # fmt: skip
    path = "controller/logs/syslog.txt"
    files[path] = _syslog_file(c, a + 5, z - 5, rng.randint(100, 160), extras.get(path, []))
    return files


def inventory_yaml(b: DemoBuild, job: Job) -> str:
    """``zuul-info/inventory.yaml`` as Zuul writes it (the keys the ingest reads)."""
    hosts = ["controller", "compute1"] if job.subnode else ["controller" if job.kind != "tox" else b.label]
    lines = ["all:", "  hosts:"]
    for k, h in enumerate(hosts):
        ip = f"192.0.2.{10 + k}"
        lines += [
            f"    {h}:", f"      ansible_host: {ip}", "      nodepool:", "        az: nova",
            f"        cloud: {b.provider[1]}", f"        region: {b.provider[2]}", f"        provider: {b.provider[0]}",
            f"        label: {b.label}", f"        external_id: {b.uuid[:8]}-{k:04d}-4000-8000-{b.uuid[20:]}",
            f"        interface_ip: {ip}",
        ]  # fmt: skip
    short = b.project.split("/")[-1]
    lines += [
        "  vars:", "    zuul:", f"      build: {b.uuid}", f"      buildset: {b.uuid[::-1]}", f"      job: {b.job}",
        f"      pipeline: {b.pipeline}", "      tenant: openstack", f"      voting: {str(b.voting).lower()}",
        f"      branch: {b.branch}", f"      change: '{b.change}'", f"      patchset: '{b.patchset}'",
        f"      ref: refs/changes/{b.change % 100:02d}/{b.change}/{b.patchset}",
        f"      change_url: https://review.opendev.org/{b.change}", "      project:", f"        name: {b.project}",
        f"        short_name: {short}", "        canonical_hostname: opendev.org",
        f"        canonical_name: opendev.org/{b.project}", f"        src_dir: src/opendev.org/{b.project}",
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def build_record(b: DemoBuild) -> dict[str, object]:
    """The Zuul build record (build.json), in the legacy or the Zuul >= 10 shape."""
    ref = {
        "project": b.project, "branch": b.branch, "change": b.change, "patchset": str(b.patchset),
        "ref": f"refs/changes/{b.change % 100:02d}/{b.change}/{b.patchset}", "oldrev": None, "newrev": None,
        "ref_url": f"https://review.opendev.org/{b.change}",
    }  # fmt: skip
    rec: dict[str, object] = {
        "_id": 30000000 + b.index, "uuid": b.uuid, "job_name": b.job, "result": b.result, "held": False,
        "start_time": b.start.strftime("%Y-%m-%dT%H:%M:%S"), "end_time": b.end.strftime("%Y-%m-%dT%H:%M:%S"),
        "duration": (b.end - b.start).total_seconds(), "voting": b.voting, "log_url": b.log_url,
        "nodeset": b.label, "error_detail": None, "final": True, "artifacts": [], "provides": [],
        "pipeline": b.pipeline, "event_id": b.uuid[::-1],
        "event_timestamp": (b.start - timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:%S"),
    }  # fmt: skip
    if b.zuul_shape == "v10":
        rec["ref"] = ref
        rec["buildset"] = {"uuid": b.uuid[::-1], "refs": [ref]}
    else:
        rec.update({k: v for k, v in ref.items() if k != "oldrev"})
        rec["buildset"] = {"uuid": b.uuid[::-1]}
    return rec


def _compression(b: DemoBuild, path: str) -> str:
    """Like log servers: syslog always gzipped, screen files in every other build, a few zstd."""
    if path.endswith("syslog.txt"):
        return ".gz"
    if "/screen-" in path and b.index % 2 == 0:
        return ".gz"
    if path.endswith("devstacklog.txt") and b.index % 5 == 0:
        return ".zst"
    return ""


def generate(
    dest: Path, *, days: int = 3, builds_per_day: int = 16, seed: int = 0, now: datetime | None = None
) -> list[Path]:
    """Write the demo builds under ``dest`` (one directory per build uuid); returns them.

    Deterministic for (seed, now, days, builds_per_day): gzip headers carry no mtime."""
    dest = Path(dest)
    out = []
    zc = zstandard.ZstdCompressor(level=3)
    for b in plan_builds(days=days, builds_per_day=builds_per_day, seed=seed, now=now):
        root = dest / b.uuid
        for rel, text in render_build(b).items():
            data = text.encode()
            suffix = _compression(b, rel)
            if suffix == ".gz":
                data = gzip.compress(data, compresslevel=6, mtime=0)
            elif suffix == ".zst":
                data = zc.compress(data)
            p = root / (rel + suffix)
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        (root / "build.json").write_text(json.dumps(build_record(b), indent=2) + "\n")
        out.append(root)
    return out


def signature_yaml(bug: KnownBug) -> str:
    """The elastic-recheck YAML shipped for a bug (``appliance/recheck/signatures``)."""
    terms = bug.query.split(" AND ")
    body = " AND\n  ".join(terms)
    flags = "".join(
        f"{key}: true\n" for key, on in (("suppress-graph", bug.suppress_graph), ("allow-nonvoting", bug.allow_nonvoting)) if on
    )
    return f"# {bug.title}\n# (demo data set: appliance/demo.py)\nquery: >-\n  {body}\n{flags}"


if __name__ == "__main__":  # pragma: no cover - a convenience for humans
    import sys
    import time

    t0 = time.perf_counter()
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "demo-builds")
    dirs = generate(target)
    size = sum(p.stat().st_size for d in dirs for p in d.rglob("*") if p.is_file())
    print(f"{len(dirs)} builds, {size / 1e6:.1f} MB on disk, {time.perf_counter() - t0:.2f}s -> {target}")
