// The API's enums, imported from the code protoc-gen-es generates from
// proto/egress/v1 (gateway/gen, `npm run generate`), so the panel never
// copies their numbers. Pure: unit-tested under node.
import { ListConnectionsRequest_OrderBy } from "../../gen/egress/v1/connections_pb.js";
import { Action, IpInfo_Status, LockKind, Protocol } from "../../gen/egress/v1/types_pb.js";

export { Action, LockKind, Protocol };
export const OrderBy = ListConnectionsRequest_OrderBy;
// IpInfo.Status's values keep their IP_INFO_STATUS_ prefix in the generated
// code (a nested enum); shortened here like the others.
export const IpStatus = {
  UNSPECIFIED: IpInfo_Status.IP_INFO_STATUS_UNSPECIFIED,
  PENDING: IpInfo_Status.IP_INFO_STATUS_PENDING,
  OK: IpInfo_Status.IP_INFO_STATUS_OK,
  NO_PTR: IpInfo_Status.IP_INFO_STATUS_NO_PTR,
  TEMPORARY_FAILURE: IpInfo_Status.IP_INFO_STATUS_TEMPORARY_FAILURE,
};

// Protocol as shown in the tables: technical names, the same in every
// language ("any" is translated by the caller).
export function protocolText(protocol, anyText) {
  switch (protocol) {
    case Protocol.TCP:
      return "TCP";
    case Protocol.UDP:
      return "UDP";
    case Protocol.ICMP:
      return "ICMP";
    case Protocol.ICMPV6:
      return "ICMPv6";
    default:
      return anyText; // ANY, and UNSPECIFIED which rules read as ANY
  }
}

// ACCEPT / REJECT: the reference page's names for the two statuses, kept
// as they are in every language (like TCP and UDP).
export function actionText(action) {
  return action === Action.REJECT ? "REJECT" : "ACCEPT";
}

// Sort orders in the URL and their API values.
export const sortNames = { count: OrderBy.COUNT, ip: OrderBy.IP, port: OrderBy.PORT, last_seen: OrderBy.LAST_SEEN };

// Count and last seen read best biggest/newest first; IP and port ascending.
export function descendingByDefault(order) {
  return order === OrderBy.COUNT || order === OrderBy.LAST_SEEN;
}
