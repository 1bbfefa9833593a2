#!/usr/bin/perl
# Writes a small MaxMind-format ASN database for the tests:
#   write_test_mmdb.pl OUT.mmdb CIDR ASN ORG [COUNTRY] [CIDR ASN ORG [COUNTRY]]...
# (COUNTRY "-" for none). IPv6 tree with IPv4 at ::/96, as MaxMind ships it.
use strict;
use warnings;
use MaxMind::DB::Writer::Tree;

my $out = shift @ARGV or die "usage: $0 OUT.mmdb (CIDR ASN ORG COUNTRY)...\n";
my %types = (
  autonomous_system_number       => 'uint32',
  autonomous_system_organization => 'utf8_string',
  country                        => 'map',
  iso_code                       => 'utf8_string',
);
my $tree = MaxMind::DB::Writer::Tree->new(
  ip_version            => 6,
  record_size           => 24,
  database_type         => 'egress-test-ASN',
  languages             => ['en'],
  description           => { en => 'egress test ASN database' },
  map_key_type_callback => sub { $types{ $_[0] } },
  # The tests use documentation ranges, which the writer drops by default.
  remove_reserved_networks => 0,
);
while (@ARGV) {
  my ($cidr, $asn, $org, $country) = splice(@ARGV, 0, 4);
  my %record = (autonomous_system_number => $asn + 0, autonomous_system_organization => $org);
  $record{country} = { iso_code => $country } if defined $country && $country ne '-';
  $tree->insert_network($cidr, \%record);
}
open my $fh, '>:raw', "$out.tmp" or die "$out.tmp: $!";
$tree->write_tree($fh);
close $fh or die;
rename "$out.tmp", $out or die "rename: $!";
