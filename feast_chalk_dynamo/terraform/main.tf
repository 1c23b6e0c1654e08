# The store's one table: every feature view of every entity, the name mapping,
# the id counter and the Bloom filter snapshots all live in it, keyed as
# feast_chalk_dynamo expects (README, "Table layout"). The store checks the
# keys at `feast apply` and refuses a table keyed otherwise.

provider "aws" {
  region = var.region
}

locals {
  global_table = length(var.replica_regions) > 0
  provisioned  = var.billing_mode == "PROVISIONED"
}

resource "aws_dynamodb_table" "online_store" {
  name         = var.table_name
  billing_mode = var.billing_mode
  # A provisioned table starts at the autoscaling floor; autoscaling.tf moves it from there.
  read_capacity  = local.provisioned ? var.read_min_capacity : null
  write_capacity = local.provisioned ? var.write_min_capacity : null

  hash_key  = "pk"
  range_key = "sk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  # When DynamoDB may delete an item (epoch seconds). A windowed view's bucket
  # pages always carry it: a page goes once every window has moved past its
  # buckets. With chalk_style_expiry: true an entity item carries it too, and
  # goes once every view on it has expired; without it, no entity item does.
  ttl {
    attribute_name = "_x"
    enabled        = true
  }

  # Global Tables (version 2019.11.21) replicate through the table's stream,
  # which must carry both images.
  stream_enabled   = local.global_table
  stream_view_type = local.global_table ? "NEW_AND_OLD_IMAGES" : null

  dynamic "replica" {
    for_each = var.replica_regions
    content {
      region_name            = replica.value
      kms_key_arn            = lookup(var.replica_kms_key_arns, replica.value, null)
      point_in_time_recovery = true
      propagate_tags         = true
    }
  }

  point_in_time_recovery {
    enabled = true
  }

  # Without kms_key_arn: the AWS managed key (alias/aws/dynamodb).
  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  deletion_protection_enabled = var.deletion_protection

  tags = var.tags

  lifecycle {
    # Once the table exists, provisioned capacity is the autoscaler's to set.
    ignore_changes = [read_capacity, write_capacity]

    precondition {
      condition     = !contains(var.replica_regions, var.region)
      error_message = "replica_regions lists the other regions: var.region already holds the table."
    }

    precondition {
      condition = var.kms_key_arn == null || alltrue([
        for region in var.replica_regions : contains(keys(var.replica_kms_key_arns), region)
      ])
      error_message = "With kms_key_arn set, every replica region needs a key of its own in replica_kms_key_arns."
    }
  }
}
