variable "region" {
  description = "Region of the table (with replicas: the region Terraform manages the Global Table from)."
  type        = string
  default     = "us-east-1"
}

variable "table_name" {
  description = "The table's name: feature_store.yaml's online_store.table_name. One table per environment."
  type        = string
  default     = "feast-online-store"
}

variable "billing_mode" {
  description = "PAY_PER_REQUEST (on-demand) or PROVISIONED (autoscaled between the min and max capacities below)."
  type        = string
  default     = "PAY_PER_REQUEST"

  validation {
    condition     = contains(["PAY_PER_REQUEST", "PROVISIONED"], var.billing_mode)
    error_message = "billing_mode is PAY_PER_REQUEST or PROVISIONED."
  }
}

variable "replica_regions" {
  description = "Other regions holding a replica (Global Tables 2019.11.21). Empty: a single-region table."
  type        = list(string)
  default     = []
}

variable "read_min_capacity" {
  description = "PROVISIONED only: read capacity units the autoscaler never goes below (and the table starts at)."
  type        = number
  default     = 5
}

variable "read_max_capacity" {
  description = "PROVISIONED only: read capacity units the autoscaler never goes above."
  type        = number
  default     = 100
}

variable "write_min_capacity" {
  description = "PROVISIONED only: write capacity units the autoscaler never goes below (and the table starts at)."
  type        = number
  default     = 5
}

variable "write_max_capacity" {
  description = "PROVISIONED only: write capacity units the autoscaler never goes above."
  type        = number
  default     = 100
}

variable "autoscaling_target_utilization" {
  description = "PROVISIONED only: the consumed share of provisioned capacity, in percent, that autoscaling tracks."
  type        = number
  default     = 70

  validation {
    condition     = var.autoscaling_target_utilization >= 20 && var.autoscaling_target_utilization <= 90
    error_message = "DynamoDB autoscaling targets 20 to 90 percent utilization."
  }
}

variable "kms_key_arn" {
  description = "A customer managed KMS key for encryption at rest; null uses the AWS managed key."
  type        = string
  default     = null
}

variable "replica_kms_key_arns" {
  description = "With kms_key_arn: a key in each replica region, by region name."
  type        = map(string)
  default     = {}
}

variable "deletion_protection" {
  description = "Refuse DeleteTable (terraform destroy included) until this is turned off."
  type        = bool
  default     = true
}

variable "table_management_policy" {
  description = "Also create the policy for create_tables_if_not_exists and teardown (CreateTable, UpdateTimeToLive, DeleteTable)."
  type        = bool
  default     = false
}

variable "migration_table_prefix" {
  description = "Feast's DynamoDB tables to migrate from are named <prefix><view> (Feast's default: '<project>.'). Set to create the migration policy."
  type        = string
  default     = null
}

variable "migration_region" {
  description = "Region of Feast's DynamoDB tables; null: var.region."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags on the table, its replicas and the policies."
  type        = map(string)
  default     = {}
}
