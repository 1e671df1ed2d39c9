"""Response bodies (tds/trt/tt elements) for the simulated ONVIF device and media services."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from lxml import etree

from nvr.sim.onvif_soap import NS_TDS, NS_TRT, TDS, TRT, TT, SoapFault


@dataclass(frozen=True)
class DeviceInfo:
    """What GetDeviceInformation reports."""

    manufacturer: str = "nvr-sim"
    model: str = "SimCam 1"
    firmware: str = "0.1"
    serial: str = "SIM-0001"
    hardware_id: str = "sim"


@dataclass(frozen=True)
class StreamProfile:
    """One media profile: an H.264 encoder configuration plus its RTSP URL."""

    token: str
    name: str
    width: int
    height: int
    fps: int
    bitrate_kbps: int
    rtsp_url: str


@dataclass(frozen=True)
class DeviceView:
    """Everything the response builders need to know about one device."""

    info: DeviceInfo
    device_xaddr: str
    media_xaddr: str
    snapshot_base: str
    scopes: tuple[str, ...]
    profiles: tuple[StreamProfile, ...]

    def profile(self, token: str | None) -> StreamProfile:
        """Look up a profile by token or raise the ONVIF NoProfile fault."""
        for prof in self.profiles:
            if prof.token == token:
                return prof
        raise SoapFault("Sender", ("InvalidArgVal", "NoProfile"), f"No such profile: {token!r}")


def _text(parent: etree._Element, path: str) -> str | None:
    """Text of the first descendant whose local names match the '/'-separated `path`."""
    node: etree._Element | None = parent
    for name in path.split("/"):
        if node is None:
            return None
        node = next((c for c in node if isinstance(c.tag, str) and etree.QName(c).localname == name), None)
    return None if node is None or node.text is None else node.text.strip()


def get_system_date_and_time(view: DeviceView, request: etree._Element) -> etree._Element:
    """tds:GetSystemDateAndTimeResponse with the current UTC time."""
    now = dt.datetime.now(dt.UTC)
    return TDS.GetSystemDateAndTimeResponse(
        TDS.SystemDateAndTime(
            TT.DateTimeType("NTP"),
            TT.DaylightSavings("false"),
            TT.TimeZone(TT.TZ("UTC0")),
            TT.UTCDateTime(
                TT.Time(TT.Hour(str(now.hour)), TT.Minute(str(now.minute)), TT.Second(str(now.second))),
                TT.Date(TT.Year(str(now.year)), TT.Month(str(now.month)), TT.Day(str(now.day))),
            ),
        )
    )


def get_device_information(view: DeviceView, request: etree._Element) -> etree._Element:
    """tds:GetDeviceInformationResponse."""
    info = view.info
    return TDS.GetDeviceInformationResponse(
        TDS.Manufacturer(info.manufacturer),
        TDS.Model(info.model),
        TDS.FirmwareVersion(info.firmware),
        TDS.SerialNumber(info.serial),
        TDS.HardwareId(info.hardware_id),
    )


def get_capabilities(view: DeviceView, request: etree._Element) -> etree._Element:
    """tds:GetCapabilitiesResponse advertising the device and media services."""
    device = TT.Device(
        TT.XAddr(view.device_xaddr),
        TT.System(
            TT.DiscoveryResolve("false"),
            TT.DiscoveryBye("true"),
            TT.RemoteDiscovery("false"),
            TT.SystemBackup("false"),
            TT.SystemLogging("false"),
            TT.FirmwareUpgrade("false"),
            TT.SupportedVersions(TT.Major("2"), TT.Minor("60")),
        ),
    )
    media = TT.Media(
        TT.XAddr(view.media_xaddr),
        TT.StreamingCapabilities(TT.RTPMulticast("false"), TT.RTP_TCP("true"), TT.RTP_RTSP_TCP("true")),
    )
    return TDS.GetCapabilitiesResponse(TDS.Capabilities(device, media))


def get_services(view: DeviceView, request: etree._Element) -> etree._Element:
    """tds:GetServicesResponse listing the device and media services."""
    services = [
        TDS.Service(TDS.Namespace(ns), TDS.XAddr(xaddr), TDS.Version(TT.Major("2"), TT.Minor("60")))
        for ns, xaddr in ((NS_TDS, view.device_xaddr), (NS_TRT, view.media_xaddr))
    ]
    return TDS.GetServicesResponse(*services)


def get_scopes(view: DeviceView, request: etree._Element) -> etree._Element:
    """tds:GetScopesResponse (all scopes fixed)."""
    return TDS.GetScopesResponse(*(TDS.Scopes(TT.ScopeDef("Fixed"), TT.ScopeItem(scope)) for scope in view.scopes))


def _profile_xml(prof: StreamProfile, source_w: int, source_h: int, use_count: int) -> etree._Element:
    source = TT.VideoSourceConfiguration(
        TT.Name("VideoSourceConfig"),
        TT.UseCount(str(use_count)),
        TT.SourceToken("VideoSource_1"),
        TT.Bounds(x="0", y="0", width=str(source_w), height=str(source_h)),
        token="VideoSourceConfig_1",
    )
    encoder = TT.VideoEncoderConfiguration(
        TT.Name(f"{prof.name}Encoder"),
        TT.UseCount("1"),
        TT.Encoding("H264"),
        TT.Resolution(TT.Width(str(prof.width)), TT.Height(str(prof.height))),
        TT.Quality("5"),
        TT.RateControl(
            TT.FrameRateLimit(str(prof.fps)), TT.EncodingInterval("1"), TT.BitrateLimit(str(prof.bitrate_kbps))
        ),
        TT.H264(TT.GovLength(str(prof.fps * 2)), TT.H264Profile("Main")),
        TT.Multicast(
            TT.Address(TT.Type("IPv4"), TT.IPv4Address("0.0.0.0")),
            TT.Port("0"),
            TT.TTL("1"),
            TT.AutoStart("false"),
        ),
        TT.SessionTimeout("PT60S"),
        token=f"VideoEncoder_{prof.token}",
    )
    return TRT.Profiles(TT.Name(prof.name), source, encoder, token=prof.token, fixed="true")


def get_profiles(view: DeviceView, request: etree._Element) -> etree._Element:
    """trt:GetProfilesResponse with every configured profile."""
    biggest = max(view.profiles, key=lambda p: p.width * p.height)
    return TRT.GetProfilesResponse(
        *(_profile_xml(p, biggest.width, biggest.height, len(view.profiles)) for p in view.profiles)
    )


def get_profile(view: DeviceView, request: etree._Element) -> etree._Element:
    """trt:GetProfileResponse for the requested ProfileToken."""
    prof = view.profile(_text(request, "ProfileToken"))
    biggest = max(view.profiles, key=lambda p: p.width * p.height)
    elem = _profile_xml(prof, biggest.width, biggest.height, len(view.profiles))
    elem.tag = f"{{{NS_TRT}}}Profile"
    return TRT.GetProfileResponse(elem)


def _media_uri(uri: str) -> etree._Element:
    return TRT.MediaUri(
        TT.Uri(uri), TT.InvalidAfterConnect("false"), TT.InvalidAfterReboot("false"), TT.Timeout("PT0S")
    )


def get_stream_uri(view: DeviceView, request: etree._Element) -> etree._Element:
    """trt:GetStreamUriResponse: the RTSP URL configured for the profile (unicast only)."""
    prof = view.profile(_text(request, "ProfileToken"))
    stream = _text(request, "StreamSetup/Stream")
    if stream is not None and stream != "RTP-Unicast":
        raise SoapFault("Sender", ("InvalidArgVal", "InvalidStreamSetup"), "Only RTP-Unicast is supported")
    return TRT.GetStreamUriResponse(_media_uri(prof.rtsp_url))


def get_snapshot_uri(view: DeviceView, request: etree._Element) -> etree._Element:
    """trt:GetSnapshotUriResponse pointing at this device's HTTP server."""
    prof = view.profile(_text(request, "ProfileToken"))
    return TRT.GetSnapshotUriResponse(_media_uri(f"{view.snapshot_base}/{prof.token}.jpg"))


DEVICE_OPS = {
    "GetSystemDateAndTime": get_system_date_and_time,
    "GetDeviceInformation": get_device_information,
    "GetCapabilities": get_capabilities,
    "GetServices": get_services,
    "GetScopes": get_scopes,
}
MEDIA_OPS = {
    "GetProfiles": get_profiles,
    "GetProfile": get_profile,
    "GetStreamUri": get_stream_uri,
    "GetSnapshotUri": get_snapshot_uri,
}
# ONVIF lets these run before authentication (access class PRE_AUTH); we keep it minimal.
UNAUTHENTICATED_OPS = frozenset({"GetSystemDateAndTime"})
